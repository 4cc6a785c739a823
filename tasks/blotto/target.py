"""Opponent of the blotto task (secret: present only while grading).

Each round, independently of the history, the column player draws a random integer
from 0 to 120 for each of the 6 battlefields, rescales the draws so they sum to 120
(rounding down), and puts the soldiers lost to rounding on one battlefield chosen at
random.

`history` lists the earlier rounds of the current game as (row_move, column_move);
`rng` is the grader's random.Random.
"""

FIELDS = 6
SOLDIERS = 120


def column_strategy(history, rng):
    rand = rng.random
    draws = [int(rand() * (SOLDIERS + 1)) for _ in range(FIELDS)]  # uniform on 0..120
    total = sum(draws)
    if total == 0:
        return [SOLDIERS // FIELDS] * FIELDS
    alloc = [d * SOLDIERS // total for d in draws]
    alloc[int(rand() * FIELDS)] += SOLDIERS - sum(alloc)
    return alloc
