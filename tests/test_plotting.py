from lrcurve import fit, read_runs
from lrcurve.laws import make_law
from lrcurve.plotting import plot_fit, plt, save_figure, set_title


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
    save_figure(plot_fit(fitted), path)
    assert path.stat().st_size > 1000


def test_plots_draw_on_given_axes_and_return_their_figure(samples):
    runs = [read_runs(samples / "constant.csv", warmup_steps=2160)[0]]
    fitted = fit(runs)
    fig, axes = plt.subplots(2, 1)
    assert plot_fit(fitted, ax=axes) is fig
    assert axes[0].lines and axes[1].lines
    plt.close(fig)


def test_importing_plotting_leaves_the_backend_to_the_caller():
    import subprocess
    import sys

    code = (
        "import matplotlib; before = matplotlib.rcParams._get_backend_or_none(); "
        "import lrcurve.plotting; assert matplotlib.rcParams._get_backend_or_none() == before"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
