"""asv benchmark: the growth model of Aruoba & Fernandez-Villaverde (2015) at
its published size (17,820 capital points, 5 productivity states), one thread."""

from sez.model.growth import GrowthModel, solve_growth


class TimeGrowth:
    """Full solve from V = 0 to tol = 1e-7."""

    params = ["monotone", "howard"]
    param_names = ["method"]
    timeout = 300

    def setup(self, method):
        self.model = GrowthModel()

    def time_solve(self, method):
        solve_growth(self.model, method=method, threads=1)
