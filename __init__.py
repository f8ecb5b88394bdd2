from . import clients
from . import models
from . import wizard
from . import tools
from . import controllers
