"""Your strategy for Colonel Blotto (edit this file).

Keep the signature: row_strategy(history) -> a list of 6 non-negative integers that
sum to at most 120 (one entry per battlefield).
"""

import random

FIELDS = 6
SOLDIERS = 120


def row_strategy(history):
    """Pick the row player's allocation for the next round.

    history: the earlier rounds of the current game, oldest first, as
             (your_allocation, opponent_allocation) tuples; empty in the first round.
    Returns a list of 6 non-negative integers.
    """
    alloc = [0] * FIELDS
    # Reinforce a few randomly chosen battlefields (the same one may be picked twice).
    for _ in range(random.randint(1, FIELDS)):
        alloc[random.randrange(FIELDS)] += random.randint(10, 30)
    # Hand out what is left, in order, to the battlefields that got nothing so far.
    left = SOLDIERS - sum(alloc)
    if left > 0:
        for i in range(FIELDS):
            if alloc[i] == 0:
                alloc[i] = random.randint(0, left)
                left -= alloc[i]
    # Rescale to exactly 120 soldiers (rounding down), then place the remainder.
    total = sum(alloc)
    alloc = [a * SOLDIERS // total for a in alloc]
    alloc[random.randrange(FIELDS)] += SOLDIERS - sum(alloc)
    return alloc
