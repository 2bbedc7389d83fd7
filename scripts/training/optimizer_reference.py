#!/usr/bin/env python3
"""Reference values for training/optimizers.ts and training/lr-schedule.ts, from PyTorch itself.

Runs torch.optim.SGD (plain, momentum, Nesterov; weight decay with biases exempt), torch.optim.AdamW
and SequentialLR(LinearLR, CosineAnnealingLR) stepped once per optimizer step, on small fixed
tensors with fixed gradients, and writes test/fixtures/training/optimizers.json, which
test/training/*.test.ts compare against. A dev-time script: `npm test` reads only the JSON.

    python3 scripts/training/optimizer_reference.py   # needs torch (Debian: python3-torch)
"""
import json
import math
import os
import sys
import warnings

import torch

# SequentialLR steps the cosine with step(0) at the milestone (its closed form), which warns.
warnings.filterwarnings('ignore', message='The epoch parameter')

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'training',
                   'optimizers.json')

STEPS = 6
# name -> shape; 'head.weight' has no gradient in some steps (PyTorch's grad None: skipped).
SHAPES = {'conv.weight': [2, 3, 2], 'conv.bias': [2], 'head.weight': [2, 2]}
NO_GRAD_STEPS = {'head.weight': {1, 4}}


def f32(values):
    return torch.tensor(values, dtype=torch.float32)


# Values are kept away from 0 (|p| >= 0.5, and each gradient pushes its parameter away from 0, with
# a sign that stays the same over the steps, so no buffer sums to nearly 0): a comparison within
# 1e-6 relative then measures the update rule, not the float32 rounding of a difference that cancels.
def initial_value(i, k):
    x = math.sin(0.7 * i + 1.1 * k + 0.3)
    return math.copysign(0.5 + 0.5 * abs(x), x)


def gradient_value(i, k, s):
    return -math.copysign(0.03 + 0.1 * abs(math.cos(1.3 * i + 0.9 * s + 0.5 * k)), initial_value(i, k))


def initial_params():
    params = {}
    for k, (name, shape) in enumerate(SHAPES.items()):
        n = math.prod(shape)
        params[name] = f32([initial_value(i, k) for i in range(n)]).reshape(shape)
    return params


def gradients():
    """grads[step][name], or None where the parameter has no gradient in that step."""
    grads = []
    for s in range(STEPS):
        step = {}
        for k, (name, shape) in enumerate(SHAPES.items()):
            if s in NO_GRAD_STEPS.get(name, set()):
                step[name] = None
                continue
            n = math.prod(shape)
            step[name] = f32([gradient_value(i, k, s) for i in range(n)]).reshape(shape)
        grads.append(step)
    return grads


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def schedule_lrs(base_lr, warmup_steps, start_factor, total_steps, min_lr):
    """The lr of optimizer steps 0..total_steps, scheduler.step() after every optimizer step."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base_lr)
    cosine_steps = total_steps - warmup_steps
    if warmup_steps == 0:
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cosine_steps, eta_min=min_lr)
    else:
        warmup = torch.optim.lr_scheduler.LinearLR(opt, start_factor=start_factor, end_factor=1.0,
                                                   total_iters=warmup_steps)
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cosine_steps, eta_min=min_lr)
        sched = torch.optim.lr_scheduler.SequentialLR(opt, [warmup, cosine], milestones=[warmup_steps])
    lrs = []
    for _ in range(total_steps + 1):
        lrs.append(opt.param_groups[0]['lr'])
        opt.step()
        sched.step()
    return lrs


SCHEDULES = [
    {'name': 'warmup 3, cosine to 1e-4 at 10', 'baseLr': 0.1, 'warmupSteps': 3, 'warmupStartFactor': 0.1,
     'totalSteps': 10, 'minLr': 1e-4},
    {'name': 'no warm-up, cosine to 0 at 5', 'baseLr': 0.01, 'warmupSteps': 0, 'warmupStartFactor': 0.1,
     'totalSteps': 5, 'minLr': 0.0},
    {'name': 'warmup 5 from 0.01, cosine to 0 at 8', 'baseLr': 0.4, 'warmupSteps': 5, 'warmupStartFactor': 0.01,
     'totalSteps': 8, 'minLr': 0.0},
    {'name': 'warmup 1 from 0.5, cosine to 2e-3 at 7', 'baseLr': 3e-3, 'warmupSteps': 1, 'warmupStartFactor': 0.5,
     'totalSteps': 7, 'minLr': 2e-3},
]

# Each case: the options as training/optimizers.ts takes them, plus whether 1-D parameters are exempt
# from weight decay (one param group with decay, one with weight_decay=0, as is usual in PyTorch).
OPTIMIZERS = [
    {'name': 'SGD plain', 'kind': 'sgd', 'options': {'momentum': 0, 'nesterov': False, 'weightDecay': 1e-2},
     'noDecayOneDimensional': False, 'lr': 'constant 0.1'},
    {'name': 'SGD momentum', 'kind': 'sgd', 'options': {'momentum': 0.9, 'nesterov': False, 'weightDecay': 5e-4},
     'noDecayOneDimensional': False, 'lr': 'constant 0.05'},
    {'name': 'SGD Nesterov, biases not decayed', 'kind': 'sgd',
     'options': {'momentum': 0.9, 'nesterov': True, 'weightDecay': 1e-2},
     'noDecayOneDimensional': True, 'lr': 'schedule 0'},
    {'name': 'SGD Nesterov, no decay', 'kind': 'sgd', 'options': {'momentum': 0.8, 'nesterov': True, 'weightDecay': 0},
     'noDecayOneDimensional': False, 'lr': 'constant 0.2'},
    {'name': 'AdamW, biases not decayed', 'kind': 'adamw',
     'options': {'beta1': 0.9, 'beta2': 0.999, 'eps': 1e-8, 'weightDecay': 0.05},
     'noDecayOneDimensional': True, 'lr': 'schedule 3'},
    {'name': 'AdamW, other betas, an eps that matters', 'kind': 'adamw',
     'options': {'beta1': 0.8, 'beta2': 0.95, 'eps': 1e-2, 'weightDecay': 0.1},
     'noDecayOneDimensional': False, 'lr': 'constant 0.003'},
]


def lrs_for(spec, schedules):
    kind, value = spec.split(' ')
    if kind == 'constant':
        return [float(value)] * STEPS
    return schedules[int(value)]['lrs'][:STEPS]


def make_optimizer(case, params):
    decayed = [p for name, p in params.items() if not (case['noDecayOneDimensional'] and p.dim() <= 1)]
    exempt = [p for name, p in params.items() if case['noDecayOneDimensional'] and p.dim() <= 1]
    o = case['options']
    groups = [{'params': decayed}]
    if exempt:
        groups.append({'params': exempt, 'weight_decay': 0.0})
    if case['kind'] == 'sgd':
        return torch.optim.SGD(groups, lr=0.0, momentum=o['momentum'], nesterov=o['nesterov'],
                               weight_decay=o['weightDecay'], dampening=0, foreach=False)
    return torch.optim.AdamW(groups, lr=0.0, betas=(o['beta1'], o['beta2']), eps=o['eps'],
                             weight_decay=o['weightDecay'], amsgrad=False, foreach=False)


def run_optimizer(case, grads, lrs):
    params = {name: torch.nn.Parameter(t.clone()) for name, t in initial_params().items()}
    opt = make_optimizer(case, params)
    after = []
    for s in range(STEPS):
        for g in opt.param_groups:
            g['lr'] = lrs[s]
        for name, p in params.items():
            p.grad = None if grads[s][name] is None else grads[s][name].clone()
        opt.step()
        after.append({name: flat(p) for name, p in params.items()})
    slots = {'sgd': [('momentum', 'momentum_buffer')], 'adamw': [('exp_avg', 'exp_avg'),
                                                                 ('exp_avg_sq', 'exp_avg_sq')]}[case['kind']]
    final_state = {}
    steps = {}
    for name, p in params.items():
        state = opt.state[p]
        steps[name] = int(state['step']) if 'step' in state else (STEPS - len(NO_GRAD_STEPS.get(name, ())))
        for slot, key in slots:
            if state.get(key) is not None:
                final_state[f'{slot}/{name}'] = flat(state[key])
    return {**case, 'lrs': lrs, 'paramsAfterStep': after, 'finalState': final_state, 'finalSteps': steps}


def main():
    torch.set_num_threads(1)
    schedules = [{**s, 'lrs': schedule_lrs(s['baseLr'], s['warmupSteps'], s['warmupStartFactor'], s['totalSteps'],
                                           s['minLr'])} for s in SCHEDULES]
    grads = gradients()
    fixture = {
        'generatedBy': 'scripts/training/optimizer_reference.py',
        'torch': torch.__version__,
        'steps': STEPS,
        'shapes': SHAPES,
        'initialParams': {name: flat(t) for name, t in initial_params().items()},
        'grads': [{name: (None if g is None else flat(g)) for name, g in step.items()} for step in grads],
        'schedules': schedules,
        'optimizers': [run_optimizer(case, grads, lrs_for(case['lr'], schedules)) for case in OPTIMIZERS],
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        json.dump(fixture, f, indent=1)
        f.write('\n')
    print(f'wrote {os.path.normpath(OUT)} (torch {torch.__version__})', file=sys.stderr)


if __name__ == '__main__':
    main()
