"""The bundled demo Sales API: a stand-in for the real REST API, reached only over HTTP.

Stdlib only. ``DemoSalesApi`` serves deterministic, realistically dirty orders (see ``orders``);
``FaultConfig`` injects rate limits, 5xx answers, dropped connections and slow answers.
"""

from etl_assets.demo.faults import FaultConfig
from etl_assets.demo.orders import DayOrders, generate_day
from etl_assets.demo.server import DemoSalesApi

__all__ = ["DayOrders", "DemoSalesApi", "FaultConfig", "generate_day"]
