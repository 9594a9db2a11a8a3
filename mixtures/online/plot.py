"""The weight trajectory of an online run as a figure (matplotlib, Agg backend)."""

from __future__ import annotations

from typing import Any


def trajectory_figure(trajectory: list[dict[str, Any]], domains: list[str], title: str = "", *,
                      mixture: dict[str, float] | None = None):
    """A step plot of each domain's weight over training steps; dashed lines mark ``mixture``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4))
    ax = figure.add_subplot(1, 1, 1)
    steps = [point["step"] for point in trajectory]
    colors = {}
    for i, domain in enumerate(domains):
        values = [point["weights"][i] for point in trajectory]
        (line,) = ax.step(steps, values, where="post", label=domain)
        colors[domain] = line.get_color()
    if mixture:
        for domain, weight in mixture.items():
            ax.axhline(weight, color=colors.get(domain, "grey"), linestyle="--", linewidth=0.8)
    ax.set_xlabel("training step")
    ax.set_ylabel("domain weight")
    ax.set_ylim(bottom=0)
    ax.set_title(title or "domain weights during training (dashed: the run's mixture)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    return figure
