"""Opponent of the prisonersDilemma task (secret: present only while grading).

Every round the column player picks one of eleven textbook strategies uniformly at
random and plays that strategy's move for the round (0 = cooperate, 1 = defect).

`history` lists the earlier rounds of the current game as (row_move, column_move), so
`history[-1][0]` is what the row player did last; `rng` is the grader's random.Random.
"""

C, D = 0, 1


def noisy_mirror(history, rng):
    """Opens with D; then C w.p. 1/3, D w.p. 1/6, its own previous move w.p. 0.4,
    and the opposite of the row player's previous move w.p. 0.1."""
    if not history:
        return D
    row_last, own_last = history[-1]
    u = rng.random()
    if u < 0.3333:
        return C
    if u < 0.5:
        return D
    if u < 0.9:
        return own_last
    return 1 - row_last


def tit_for_tat(history, rng):
    return history[-1][0] if history else C


def always_cooperate(history, rng):
    return C


def always_defect(history, rng):
    return D


def coin_flip(history, rng):
    return rng.choice((C, D))


def grim_trigger(history, rng):
    return D if any(row == D for row, _ in history) else C


def win_stay_lose_shift(history, rng):
    """Pavlov: cooperate when both players did the same thing last round."""
    if not history:
        return C
    row_last, own_last = history[-1]
    return C if row_last == own_last else D


def tit_for_two_tats(history, rng):
    if len(history) >= 2 and history[-1][0] == D and history[-2][0] == D:
        return D
    return C


def suspicious_tit_for_tat(history, rng):
    return history[-1][0] if history else D


def even_odds(history, rng):
    return C if rng.random() < 0.5 else D


def forgiving_tit_for_tat(history, rng):
    """Copies the row player's last move, but cooperates after two defections in a row."""
    if not history:
        return C
    if len(history) >= 2 and history[-1][0] == D and history[-2][0] == D:
        return C
    return history[-1][0]


STRATEGIES = (
    noisy_mirror,
    tit_for_tat,
    always_cooperate,
    always_defect,
    coin_flip,
    grim_trigger,
    win_stay_lose_shift,
    tit_for_two_tats,
    suspicious_tit_for_tat,
    even_odds,
    forgiving_tit_for_tat,
)


def column_strategy(history, rng):
    return STRATEGIES[int(rng.random() * len(STRATEGIES))](history, rng)
