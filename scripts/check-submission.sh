#!/usr/bin/env bash
# Runs the real MLPerf Inference submission checker of a round on a submission tree.
# Developer tool: not used by bnas at run time, not run in CI.
#
#   scripts/check-submission.sh --mirror <inference git dir> --round v2.0|v5.0|v5.1|v6.0|v6.1 \
#       --input <submission root> [--submitter <org>] [-- <extra checker flags>]
#
# --mirror is a clone (bare or not) of github.com/mlcommons/inference. The checker is extracted
# from it into a temporary folder (never into this repository) and removed afterwards:
#   v2.0  tools/submission/submission-checker.py + log_parser.py at tag v2.0 (stdlib only),
#         run as: python3 submission-checker.py --input <root> --version v2.0 [--submitter X]
#   v5.x, v6.x  the tools/submission/submission_checker package at HEAD (needs PyYAML),
#         run as: python3 -m submission_checker.main --input <root> --version <round> [--submitter X]
# Extra flags after "--" go to the checker as they are (e.g. --extra-model-benchmark-map
# "mymodel:resnet" for v2.0, --skip-meaningful-fields-emptiness-check for current rounds).
# The checker's CSV goes to the temporary folder. Exit status: the checker's (0 = looks OK).
set -euo pipefail

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
  exit 2
}

mirror='' round='' input='' submitter=''
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --mirror) mirror="${2:?--mirror needs a value}"; shift 2 ;;
    --round) round="${2:?--round needs a value}"; shift 2 ;;
    --input) input="${2:?--input needs a value}"; shift 2 ;;
    --submitter) submitter="${2:?--submitter needs a value}"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) usage ;;
    *) echo "check-submission: unknown argument $1" >&2; usage ;;
  esac
done
[[ -n "$mirror" && -n "$round" && -n "$input" ]] || usage
[[ -d "$input" ]] || { echo "check-submission: --input $input is not a folder" >&2; exit 2; }
input="$(cd "$input" && pwd)"
git -C "$mirror" rev-parse --git-dir >/dev/null 2>&1 || { echo "check-submission: $mirror is not a git repository" >&2; exit 2; }
command -v python3 >/dev/null || { echo "check-submission: python3 is required" >&2; exit 2; }

case "$round" in
  v2.0) ref='v2.0' ;;
  v5.0|v5.1|v6.0|v6.1) ref='HEAD' ;;
  *) echo "check-submission: unsupported round $round (v2.0, v5.0, v5.1, v6.0, v6.1)" >&2; exit 2 ;;
esac

work="$(mktemp -d "${TMPDIR:-/tmp}/bnas-checker.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Extract tools/submission file by file (git archive stops at the first blob a partial mirror lacks).
extract() {
  local rev="$1" path="$2"
  git -C "$mirror" ls-tree -r "$rev" -- "$path" | while read -r _mode type obj file; do
    [[ "$type" == blob ]] || continue
    case "$file" in */directory_structure_samples/*|*/tests/*) continue ;; esac
    mkdir -p "$work/$(dirname "$file")"
    git -C "$mirror" cat-file blob "$obj" >"$work/$file"
  done
}
extract "$ref" tools/submission
commit="$(git -C "$mirror" rev-parse --short "$ref^{commit}")"
cd "$work/tools/submission"

args=(--input "$input" --version "$round" --csv "$work/summary.csv")
[[ -n "$submitter" ]] && args+=(--submitter "$submitter")
echo "check-submission: $round checker from $ref ($commit) on $input" >&2

set +e
if [[ "$round" == v2.0 ]]; then
  [[ -f submission-checker.py ]] || { echo "check-submission: no submission-checker.py at $ref" >&2; exit 2; }
  python3 submission-checker.py "${args[@]}" "${extra[@]}" 2>&1 | tee "$work/checker.log"
  status=${PIPESTATUS[0]}
else
  if ! python3 -c 'import yaml' 2>/dev/null; then
    echo "check-submission: the $round checker needs PyYAML, which python3 cannot import (pip install pyyaml)" >&2
    exit 2
  fi
  [[ -d submission_checker ]] || { echo "check-submission: no submission_checker package at $ref" >&2; exit 2; }
  python3 -m submission_checker.main "${args[@]}" "${extra[@]}" 2>&1 | tee "$work/checker.log"
  status=${PIPESTATUS[0]}
fi
set -e

echo '---- verdict ----'
grep -E 'Results=|SUMMARY' "$work/checker.log" || echo "(no SUMMARY line: the checker crashed, see above)"
errors=$(grep -c 'ERROR' "$work/checker.log" || true)
echo "checker exit status $status, $errors ERROR line(s)"
exit "$status"
