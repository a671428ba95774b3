"""sez: Special Economic Zones, agglomeration and export entry with Chinese firm data.

The compiled kernels live in the private module ``sez._core``; use the
subpackages (``sez.model`` ...) instead.
"""

from sez._core import have_openmp as HAVE_OPENMP
from sez.errors import GridError, ParameterError, SolverError

__version__ = "0.1.0"
__all__ = ["HAVE_OPENMP", "ParameterError", "GridError", "SolverError", "__version__"]
