from lrcurve import fit, read_runs
from lrcurve.laws import make_law
from lrcurve.plotting import plot_fit, plt, set_title


def test_long_titles_are_wrapped_onto_lines_that_fit_the_figure():
    fig, ax = plt.subplots()
    title = "multipower law: " + make_law("multipower").formula
    set_title(ax, title, width=95)
    lines = ax.get_title().split("\n")
    assert len(lines) >= 2 and all(len(line) <= 95 for line in lines)
    assert " ".join(lines) == title
    plt.close(fig)


def test_a_multipower_fit_plot_is_written(samples, tmp_path):
    runs = [
        read_runs(samples / f"{name}.csv", warmup_steps=2160)[0] for name in ("constant", "cosine")
    ]
    fitted = fit(runs, make_law("multipower"))
    path = tmp_path / "fit.png"
    plot_fit(fitted, path)
    assert path.stat().st_size > 1000
