"""Figures for the notebooks. Each slider in the course calls a pure function here
(parameters -> matplotlib Figure, with the plotted data reachable for tests).

Style: Okabe-Ito colour-blind-safe palette, font sizes readable on a classroom projector.
"""

import matplotlib as mpl

#: Okabe & Ito (2008), safe for the common forms of colour blindness.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

#: One colour and one name per shipped model, the same in every figure.
MODEL_COLOURS = {"cnn": PALETTE[1], "capsule": PALETTE[0], "capsule_accumulate": PALETTE[2],
                 "capsule_calibrated": PALETTE[3]}
MODEL_LABELS = {"cnn": "CNN (global pooling)", "capsule": "capsule (replace, article)",
                "capsule_accumulate": "capsule (accumulate, paper)", "capsule_calibrated": "capsule (calibrated)"}

COURSE_STYLE = {
    "axes.prop_cycle": mpl.cycler(color=PALETTE),
    "font.size": 13,
    "axes.titlesize": 15,
    "axes.labelsize": 14,
    "legend.fontsize": 12,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "lines.linewidth": 2.2,
    "figure.dpi": 90,
    "axes.grid": True,
    "grid.alpha": 0.3,
}


def use_course_style():
    """Apply the course's plot style to matplotlib (call once at the top of a notebook)."""
    mpl.rcParams.update(COURSE_STYLE)


use_course_style()
