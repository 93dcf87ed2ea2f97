"""In-memory twins of the storage ports (``liaison.services.ports``), for the unit tests
of the use cases: one module per port area, as in the ports package.

Same contract as the SQL unit of work: changes made inside ``with uow:`` become visible to
later units of work only after ``commit()``. Only tests import this package.
"""

from tests.twins.state import MemoryState as MemoryState
from tests.twins.unit_of_work import MemoryUnitOfWork as MemoryUnitOfWork
