"""The random calls of the chaos test (chaos_test.py): the weighted table
of actions and the draw. Each action is a generator: it yields Calls (one
request, the principal that sends it, and the statuses the contract allows
for it; chaos_call.py) and gets each Result back, so one action may walk
pages, replay a request_id or compare two answers. The model
(chaos_model.World) decides what is allowed; the runner checks it."""
from chaos_reads import (a_audit, a_get, a_list_hostile, a_list_walk, a_misc, a_principal,
                         a_probe_pair, a_replay, a_report, a_suggest)
from chaos_writes import (a_create_donor, a_create_match, a_create_need, a_create_pledge,
                          a_fund_hot_need, a_match_transition, a_need_transition,
                          a_update_donor, a_update_need, a_update_pledge)

# Weighted: mostly calls that move the workflow forward, so states and money
# build up; hostile values are drawn inside each action.
ACTIONS = [
    (10, a_create_need), (14, a_need_transition), (5, a_update_need), (3, a_create_donor),
    (3, a_update_donor), (6, a_create_pledge), (4, a_update_pledge), (10, a_create_match),
    (16, a_match_transition), (8, a_get), (4, a_list_walk), (3, a_list_hostile), (2, a_report),
    (2, a_suggest), (2, a_principal), (2, a_audit), (3, a_misc), (3, a_replay),
    (3, a_probe_pair), (2, a_fund_hot_need),
]


def next_action(ctx):
    total = sum(w for w, _ in ACTIONS)
    x = ctx.rng.random() * total
    for wt, fn in ACTIONS:
        x -= wt
        if x < 0:
            return fn
    return ACTIONS[-1][1]

