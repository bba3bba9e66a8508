"""Master tables for single sampling (ANSI/ASQ Z1.4 / ISO 2859-1, Tables I and II-A/B/C).

Pure data, standard library only; ``dropline.domain.supply.aql`` is the API over it.

Each master-table row is ``letter: (sample size, cells)`` where ``cells`` holds the 26 AQL
columns in the order of ``AQL_LABELS``, separated by whitespace. A cell is ``Ac/Re``, ``↓``
(use the first sampling plan below the arrow), ``↑`` (use the first sampling plan above the
arrow) or ``-`` (no entry; only in the tightened table's row S).

The cells were transcribed from the standard's tables, whose layout is diagonal: moving
one row down and one column left gives the same plan (and the same arrow). Edge cells
whose arrow would leave the table, and the tightened table's extra row S, could not be
checked against a legible published copy; each is explained in a comment below.
"""

from __future__ import annotations

#: The AQL columns, tightest first, exactly as printed in the standard.
AQL_LABELS: tuple[str, ...] = (
    "0.010", "0.015", "0.025", "0.040", "0.065", "0.10", "0.15", "0.25", "0.40", "0.65",
    "1.0", "1.5", "2.5", "4.0", "6.5", "10", "15", "25", "40", "65",
    "100", "150", "250", "400", "650", "1000",
)  # fmt: skip

#: Table I - sample size code letters. One row per lot-size range:
#: (smallest lot, largest lot or None for "and over", letters for S-1 S-2 S-3 S-4 I II III).
CODE_LETTERS: tuple[tuple[int, int | None, str], ...] = (
    (2, 8, "AAAAAAB"),
    (9, 15, "AAAAABC"),
    (16, 25, "AABBBCD"),
    (26, 50, "ABBCCDE"),
    (51, 90, "BBCCCEF"),
    (91, 150, "BBCDDFG"),
    (151, 280, "BCDEEGH"),
    (281, 500, "BCDEFHJ"),
    (501, 1200, "CCEFGJK"),
    (1201, 3200, "CDEGHKL"),
    (3201, 10000, "CDFGJLM"),
    (10001, 35000, "CDFHKMN"),
    (35001, 150000, "DEGJLNP"),
    (150001, 500000, "DEGJMPQ"),
    (500001, None, "DEHKNQR"),
)

# Table II-A - normal inspection. Ac/Re sequence 0/1, 1/2, 2/3, 3/4, 5/6, 7/8, 10/11,
# 14/15, 21/22, 30/31, 44/45. Two edge cells cannot point where the diagonal would:
# row A, column 10 (an ↑ with no row above A) is encoded as ↓ (first plan below: C, n 5,
# 1/2), and row R, column 0.015 (a ↓ with no row below R) as ↑ (P, n 800, 0/1).
NORMAL_ROWS: dict[str, tuple[int, str]] = {
    # AQL columns:
    #     0.010 0.015 0.025 0.040 0.065  0.10  0.15  0.25  0.40  0.65   1.0   1.5   2.5
    #       4.0   6.5    10    15    25    40    65   100   150   250   400   650  1000
    "A": (
        2,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓"
        "      ↓   0/1     ↓     ↓   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22 30/31",
    ),
    "B": (
        3,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓"
        "    0/1     ↑     ↓   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22 30/31 44/45",
    ),
    "C": (
        5,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓   0/1"
        "      ↑     ↓   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22 30/31 44/45     ↑",
    ),
    "D": (
        8,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓   0/1     ↑"
        "      ↓   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22 30/31 44/45     ↑     ↑",
    ),
    "E": (
        13,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓   0/1     ↑     ↓"
        "    1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22 30/31 44/45     ↑     ↑     ↑",
    ),
    "F": (
        20,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓   0/1     ↑     ↓   1/2"
        "    2/3   3/4   5/6   7/8 10/11 14/15 21/22     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "G": (
        32,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓   0/1     ↑     ↓   1/2   2/3"
        "    3/4   5/6   7/8 10/11 14/15 21/22     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "H": (
        50,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓   0/1     ↑     ↓   1/2   2/3   3/4"
        "    5/6   7/8 10/11 14/15 21/22     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "J": (
        80,
        "    ↓     ↓     ↓     ↓     ↓     ↓   0/1     ↑     ↓   1/2   2/3   3/4   5/6"
        "    7/8 10/11 14/15 21/22     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "K": (
        125,
        "    ↓     ↓     ↓     ↓     ↓   0/1     ↑     ↓   1/2   2/3   3/4   5/6   7/8"
        "  10/11 14/15 21/22     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "L": (
        200,
        "    ↓     ↓     ↓     ↓   0/1     ↑     ↓   1/2   2/3   3/4   5/6   7/8 10/11"
        "  14/15 21/22     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "M": (
        315,
        "    ↓     ↓     ↓   0/1     ↑     ↓   1/2   2/3   3/4   5/6   7/8 10/11 14/15"
        "  21/22     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "N": (
        500,
        "    ↓     ↓   0/1     ↑     ↓   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22"
        "      ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "P": (
        800,
        "    ↓   0/1     ↑     ↓   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22     ↑"
        "      ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "Q": (
        1250,
        "  0/1     ↑     ↓   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22     ↑     ↑"
        "      ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "R": (
        2000,
        "    ↑     ↑   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22     ↑     ↑     ↑"
        "      ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
}

# Table II-B - tightened inspection. Ac/Re sequence 0/1, 1/2, 2/3, 3/4, 5/6, 8/9, 12/13,
# 18/19, 27/28, 41/42. Row A has no 0/1 plan (its AQL 10 cell is ↓, as in the published
# copy checked). The table carries an extra row S (n 3150) with a 1/2 plan; here it is
# placed under 0.015 and 0.025, where row R's ↓ arrows need it (see the note at row S).
TIGHTENED_ROWS: dict[str, tuple[int, str]] = {
    # AQL columns:
    #     0.010 0.015 0.025 0.040 0.065  0.10  0.15  0.25  0.40  0.65   1.0   1.5   2.5
    #       4.0   6.5    10    15    25    40    65   100   150   250   400   650  1000
    "A": (
        2,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓"
        "      ↓     ↓     ↓     ↓     ↓   1/2   2/3   3/4   5/6   8/9 12/13 18/19 27/28",
    ),
    "B": (
        3,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓"
        "      ↓   0/1     ↓     ↓   1/2   2/3   3/4   5/6   8/9 12/13 18/19 27/28 41/42",
    ),
    "C": (
        5,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓"
        "    0/1     ↓     ↓   1/2   2/3   3/4   5/6   8/9 12/13 18/19 27/28 41/42     ↑",
    ),
    "D": (
        8,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓   0/1"
        "      ↓     ↓   1/2   2/3   3/4   5/6   8/9 12/13 18/19 27/28 41/42     ↑     ↑",
    ),
    "E": (
        13,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓   0/1     ↓"
        "      ↓   1/2   2/3   3/4   5/6   8/9 12/13 18/19 27/28 41/42     ↑     ↑     ↑",
    ),
    "F": (
        20,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓   0/1     ↓     ↓"
        "    1/2   2/3   3/4   5/6   8/9 12/13 18/19     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "G": (
        32,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓   0/1     ↓     ↓   1/2"
        "    2/3   3/4   5/6   8/9 12/13 18/19     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "H": (
        50,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓   0/1     ↓     ↓   1/2   2/3"
        "    3/4   5/6   8/9 12/13 18/19     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "J": (
        80,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓   0/1     ↓     ↓   1/2   2/3   3/4"
        "    5/6   8/9 12/13 18/19     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "K": (
        125,
        "    ↓     ↓     ↓     ↓     ↓     ↓   0/1     ↓     ↓   1/2   2/3   3/4   5/6"
        "    8/9 12/13 18/19     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "L": (
        200,
        "    ↓     ↓     ↓     ↓     ↓   0/1     ↓     ↓   1/2   2/3   3/4   5/6   8/9"
        "  12/13 18/19     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "M": (
        315,
        "    ↓     ↓     ↓     ↓   0/1     ↓     ↓   1/2   2/3   3/4   5/6   8/9 12/13"
        "  18/19     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "N": (
        500,
        "    ↓     ↓     ↓   0/1     ↓     ↓   1/2   2/3   3/4   5/6   8/9 12/13 18/19"
        "      ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "P": (
        800,
        "    ↓     ↓   0/1     ↓     ↓   1/2   2/3   3/4   5/6   8/9 12/13 18/19     ↑"
        "      ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "Q": (
        1250,
        "    ↓   0/1     ↓     ↓   1/2   2/3   3/4   5/6   8/9 12/13 18/19     ↑     ↑"
        "      ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "R": (
        2000,
        "  0/1     ↓     ↓   1/2   2/3   3/4   5/6   8/9 12/13 18/19     ↑     ↑     ↑"
        "      ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    # Row S exists only so that the ↓ arrows of row R (0.015, 0.025) have a plan to
    # point to; its other cells are never reached and are left empty ("-"). The published
    # table prints one 1/2 plan in row S at the far left; its exact column could not be
    # verified against a legible copy, so it is placed where the diagonal puts it.
    "S": (
        3150,
        "    -   1/2   1/2     -     -     -     -     -     -     -     -     -     -"
        "      -     -     -     -     -     -     -     -     -     -     -     -     -",
    ),
}

# Table II-C - reduced inspection (Z1.4 / MIL-STD-105E form, where Re may exceed Ac + 1:
# a lot with Ac < d < Re is accepted but normal inspection is reinstated). Ac/Re sequence
# 0/1, 0/2, 1/3, 1/4, 2/5, 3/6, 5/8, 7/10, 10/13, 14/17, 21/24; row A (n 2) is printed
# with the normal-table plans. The edge cells A/10 and R/0.015 are encoded as in II-A.
REDUCED_ROWS: dict[str, tuple[int, str]] = {
    # AQL columns:
    #     0.010 0.015 0.025 0.040 0.065  0.10  0.15  0.25  0.40  0.65   1.0   1.5   2.5
    #       4.0   6.5    10    15    25    40    65   100   150   250   400   650  1000
    "A": (
        2,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓"
        "      ↓   0/1     ↓     ↓   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22 30/31",
    ),
    "B": (
        2,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓"
        "    0/1     ↑     ↓   0/2   1/3   1/4   2/5   3/6   5/8  7/10 10/13 14/17 21/24",
    ),
    "C": (
        2,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓   0/1"
        "      ↑     ↓   0/2   1/3   1/4   2/5   3/6   5/8  7/10 10/13 14/17 21/24     ↑",
    ),
    "D": (
        3,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓   0/1     ↑"
        "      ↓   0/2   1/3   1/4   2/5   3/6   5/8  7/10 10/13 14/17 21/24     ↑     ↑",
    ),
    "E": (
        5,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓   0/1     ↑     ↓"
        "    0/2   1/3   1/4   2/5   3/6   5/8  7/10 10/13 14/17 21/24     ↑     ↑     ↑",
    ),
    "F": (
        8,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓   0/1     ↑     ↓   0/2"
        "    1/3   1/4   2/5   3/6   5/8  7/10 10/13     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "G": (
        13,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓     ↓   0/1     ↑     ↓   0/2   1/3"
        "    1/4   2/5   3/6   5/8  7/10 10/13     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "H": (
        20,
        "    ↓     ↓     ↓     ↓     ↓     ↓     ↓   0/1     ↑     ↓   0/2   1/3   1/4"
        "    2/5   3/6   5/8  7/10 10/13     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "J": (
        32,
        "    ↓     ↓     ↓     ↓     ↓     ↓   0/1     ↑     ↓   0/2   1/3   1/4   2/5"
        "    3/6   5/8  7/10 10/13     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "K": (
        50,
        "    ↓     ↓     ↓     ↓     ↓   0/1     ↑     ↓   0/2   1/3   1/4   2/5   3/6"
        "    5/8  7/10 10/13     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "L": (
        80,
        "    ↓     ↓     ↓     ↓   0/1     ↑     ↓   0/2   1/3   1/4   2/5   3/6   5/8"
        "   7/10 10/13     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "M": (
        125,
        "    ↓     ↓     ↓   0/1     ↑     ↓   0/2   1/3   1/4   2/5   3/6   5/8  7/10"
        "  10/13     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "N": (
        200,
        "    ↓     ↓   0/1     ↑     ↓   0/2   1/3   1/4   2/5   3/6   5/8  7/10 10/13"
        "      ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "P": (
        315,
        "    ↓   0/1     ↑     ↓   0/2   1/3   1/4   2/5   3/6   5/8  7/10 10/13     ↑"
        "      ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "Q": (
        500,
        "  0/1     ↑     ↓   0/2   1/3   1/4   2/5   3/6   5/8  7/10 10/13     ↑     ↑"
        "      ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
    "R": (
        800,
        "    ↑     ↑   0/2   1/3   1/4   2/5   3/6   5/8  7/10 10/13     ↑     ↑     ↑"
        "      ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑     ↑",
    ),
}
