/**
 * Number and date formatting exactly as the C++ LoadGen prints them with glibc/libstdc++:
 * `os << double` (printf %g, 6 significant digits), std::fixed with a precision (printf %.Nf),
 * integers, the detail log's time_ms and the trace's microseconds.
 *
 * glibc rounds the exact binary value half-to-even; JavaScript's toFixed/toPrecision round exact
 * ties away from zero (0.125 → "0.13" where printf gives "0.12"), so rounding is done here on the
 * exact decimal expansion of the double.
 */

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** |x| = mant × 2^exp2 exactly (x finite). */
function decompose(x: number): { mant: bigint; exp2: number } {
  f64[0] = x;
  const hi = u32[LITTLE_ENDIAN ? 1 : 0];
  const lo = u32[LITTLE_ENDIAN ? 0 : 1];
  const biased = (hi >>> 20) & 0x7ff;
  const frac = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (biased === 0) return { mant: frac, exp2: -1074 };
  return { mant: frac | (1n << 52n), exp2: biased - 1075 };
}

/** round(|x| × 10^scale) to an integer, ties to even, computed on the exact binary value. */
function roundScaled(x: number, scale: number): bigint {
  const { mant, exp2 } = decompose(x);
  let num = mant;
  let den = 1n;
  if (exp2 >= 0) num <<= BigInt(exp2);
  else den <<= BigInt(-exp2);
  if (scale >= 0) num *= 10n ** BigInt(scale);
  else den *= 10n ** BigInt(-scale);
  const q = num / den;
  const twiceRest = (num - q * den) * 2n;
  if (twiceRest > den || (twiceRest === den && q % 2n === 1n)) return q + 1n;
  return q;
}

function nonFinite(x: number): string | undefined {
  if (Number.isNaN(x)) return 'nan';
  if (x === Number.POSITIVE_INFINITY) return 'inf';
  if (x === Number.NEGATIVE_INFINITY) return '-inf';
  return undefined;
}

function signOf(x: number): string {
  return x < 0 || Object.is(x, -0) ? '-' : '';
}

/** printf("%.{decimals}f", x): what LoadGen's DoubleToString(x, decimals) returns. */
export function formatFixed(x: number, decimals: number): string {
  const special = nonFinite(x);
  if (special) return special;
  const digits = roundScaled(x, decimals)
    .toString()
    .padStart(decimals + 1, '0');
  const cut = digits.length - decimals;
  return signOf(x) + digits.slice(0, cut) + (decimals > 0 ? `.${digits.slice(cut)}` : '');
}

/** C++ `std::ostream << double` with default flags: printf("%.{precision}g", x). */
export function formatG(x: number, precision = 6): string {
  const special = nonFinite(x);
  if (special) return special;
  if (x === 0) return `${signOf(x)}0`;
  const p = precision === 0 ? 1 : precision;
  // exponent of the first significant digit after rounding to p digits
  let exp10 = Math.floor(Math.log10(Math.abs(x)));
  let n = roundScaled(x, p - 1 - exp10);
  const upper = 10n ** BigInt(p);
  if (n >= upper) {
    exp10 += 1;
    n = roundScaled(x, p - 1 - exp10);
  } else if (n < upper / 10n) {
    exp10 -= 1;
    n = roundScaled(x, p - 1 - exp10);
    if (n >= upper) {
      exp10 += 1;
      n = roundScaled(x, p - 1 - exp10);
    }
  }
  const digits = n.toString().replace(/0+$/, '') || '0';
  let body: string;
  if (exp10 < -4 || exp10 >= p) {
    const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp10);
    body = `${mantissa}e${exp10 < 0 ? '-' : '+'}${e < 10 ? `0${e}` : e}`;
  } else if (exp10 >= 0) {
    const intPart = digits.slice(0, exp10 + 1).padEnd(exp10 + 1, '0');
    const frac = digits.slice(exp10 + 1);
    body = frac ? `${intPart}.${frac}` : intPart;
  } else {
    body = `0.${'0'.repeat(-exp10 - 1)}${digits}`;
  }
  return signOf(x) + body;
}

/** An integer as C++ prints int64/uint64 (no exponent, whatever its size). */
export function formatInteger(n: number | bigint): string {
  if (typeof n === 'bigint') return n.toString();
  if (!Number.isFinite(n)) return nonFinite(n) ?? String(n);
  const t = Math.trunc(n);
  return Math.abs(t) < 1e21 ? String(t) : BigInt(t).toString();
}

/** The detail log's time_ms: whole milliseconds, a point, the rest in ns on 6 digits. */
export function formatTimeMs(ns: number | bigint): string {
  const v = typeof ns === 'bigint' ? ns : BigInt(Math.max(0, Math.trunc(ns)));
  const ms = v / 1_000_000n;
  const rest = v % 1_000_000n;
  return `${ms}.${rest.toString().padStart(6, '0')}`;
}

/** ns → µs with 3 decimals, as the trace prints std::chrono durations in fixed precision 3. */
export function formatMicros(ns: number): string {
  const v = Math.trunc(ns);
  if (v < 0) return `-${formatMicros(-v)}`;
  const us = Math.floor(v / 1000);
  const rest = v - us * 1000;
  return `${us}.${rest < 10 ? '00' : rest < 100 ? '0' : ''}${rest}`;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** test_datetime: strftime("%FT%TZ") of the *local* time, with a literal Z (a LoadGen quirk). */
export function formatTestDatetime(date: Date): string {
  return (
    `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())}` +
    `T${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}Z`
  );
}

/** power_begin / power_end: "MM-DD-YYYY HH:MM:SS.mmm" in UTC. */
export function formatPowerTime(epochMs: number): string {
  const date = new Date(Math.floor(epochMs));
  const ms = Math.floor(epochMs) - Math.floor(epochMs / 1000) * 1000;
  return (
    `${pad2(date.getUTCMonth() + 1)}-${pad2(date.getUTCDate())}-${date.getUTCFullYear()} ` +
    `${pad2(date.getUTCHours())}:${pad2(date.getUTCMinutes())}:${pad2(date.getUTCSeconds())}.` +
    String(ms).padStart(3, '0')
  );
}

/** Python's datetime.isoformat() (local or UTC), as version_generator.py stamps the build. */
export function formatIsoBuildDate(date: Date, utc: boolean): string {
  const y = utc ? date.getUTCFullYear() : date.getFullYear();
  const mo = utc ? date.getUTCMonth() : date.getMonth();
  const d = utc ? date.getUTCDate() : date.getDate();
  const h = utc ? date.getUTCHours() : date.getHours();
  const mi = utc ? date.getUTCMinutes() : date.getMinutes();
  const s = utc ? date.getUTCSeconds() : date.getSeconds();
  const ms = utc ? date.getUTCMilliseconds() : date.getMilliseconds();
  const base = `${y}-${pad2(mo + 1)}-${pad2(d)}T${pad2(h)}:${pad2(mi)}:${pad2(s)}`;
  return ms === 0 ? base : `${base}.${String(ms * 1000).padStart(6, '0')}`;
}
