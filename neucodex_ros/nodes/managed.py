"""The nodes' shared base: a callback boundary, counters, health on /diagnostics, lifecycle."""

from __future__ import annotations

import functools
import math
import time
import traceback
from collections import Counter
from collections.abc import Callable
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.exceptions import ParameterException
from rclpy.guard_condition import GuardCondition
from rclpy.lifecycle import LifecycleNodeMixin, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.subscription import Subscription
from rclpy.timer import Timer

from neucodex_ros.core.errors import NeucodexError
from neucodex_ros.core.health import Health, Level, assess, grown
from neucodex_ros.core.settings import MANAGED
from neucodex_ros.nodes.parameters import declare, warn_unknown_parameters


class Counters(Counter[str]):
    """Event counts of a node, printed as one line."""

    def line(self) -> str:
        """`name=count, ...` sorted by name."""
        return ', '.join(f'{key}={value}' for key, value in sorted(self.items())) or 'nothing'


ERROR_LOG_PERIOD = 5.0  # seconds between log lines of one failing callback


class GuardedNode(Node):
    """A node no callback can end: whatever one message or tick raises is counted and logged.

    The handlers reject the bad input they know of with their own counters; this boundary is
    for the rest (a bug, an input nobody foresaw). The exception is counted
    (`callback_errors`) and logged with its traceback at most every ERROR_LOG_PERIOD per
    callback; the node goes on with the next message. Every subscription, timer and guard
    condition made through this class has it; event callbacks are wrapped with guarded().
    """

    #: Entities made while this holds a list (ManagedNode: while configured), to destroy.
    _made: list[Any] | None = None

    def __init__(self, name: str, role: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.role = role  # how its summary line at shutdown names it
        self.counters = Counters()
        self._error_logged: dict[str, float] = {}

    def _keep(self, entity: Any) -> Any:
        if self._made is not None:
            self._made.append(entity)
        return entity

    def guarded(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        """`callback` inside the boundary."""
        name = getattr(callback, '__name__', repr(callback))

        @functools.wraps(callback)
        def run(*args: Any) -> Any:
            try:
                return callback(*args)
            except Exception:  # the boundary: anything one message or tick raises
                self.counters['callback_errors'] += 1
                now = time.monotonic()
                if now - self._error_logged.get(name, -math.inf) >= ERROR_LOG_PERIOD:
                    self._error_logged[name] = now
                    self.get_logger().error(
                        f'{name} failed and was skipped (callback_errors='
                        f'{self.counters["callback_errors"]}; the node goes on):\n'
                        + traceback.format_exc())
                return None
        return run

    def create_subscription(self, msg_type: Any, topic: str, callback: Callable[..., Any],
                            *args: Any, **kwargs: Any) -> Any:
        """Node.create_subscription, the callback inside the boundary."""
        return self._keep(super().create_subscription(msg_type, topic, self.guarded(callback),
                                                      *args, **kwargs))

    def create_publisher(self, *args: Any, **kwargs: Any) -> Any:
        """Node.create_publisher."""
        return self._keep(super().create_publisher(*args, **kwargs))

    def create_timer(self, timer_period_sec: float, callback: Callable[..., Any],
                     *args: Any, **kwargs: Any) -> Any:
        """Node.create_timer, the callback inside the boundary."""
        return self._keep(super().create_timer(timer_period_sec, self.guarded(callback), *args,
                                               **kwargs))

    def create_guard_condition(self, callback: Callable[..., Any], *args: Any,
                               **kwargs: Any) -> Any:
        """Node.create_guard_condition, the callback inside the boundary."""
        return self._keep(super().create_guard_condition(self.guarded(callback), *args,
                                                         **kwargs))

    def report_every(self, period: float) -> None:
        """Call report() every `period` seconds (0: never); it publishes on ~/stats."""
        if period > 0:
            self.stats_pub = self.create_publisher(DiagnosticArray, '~/stats', 10)
            self.create_timer(period, self.report)

    def report(self) -> None:
        """The counters and gauges on ~/stats, as one DiagnosticStatus named after the node.

        rqt_runtime_monitor and diagnostic_aggregator read it as they read any driver's. It
        is built only while someone subscribes: it costs milliseconds of Python, which an
        edge on a share of one core should not spend for nobody.
        """
        if self.stats_pub.get_subscription_count() > 0:
            self.stats_pub.publish(diagnostic_array(self, Health(
                Level.OK, f'{sum(self.counters.values())} events counted'),
                dict(self.counters) | self.gauges()))

    def gauges(self) -> dict[str, int | float]:
        """Values of the node's state, reported beside the counters."""
        return {}


class ManagedNode(LifecycleNodeMixin, GuardedNode):
    """A lifecycle node that says how it is on /diagnostics.

    configure() (each node's own) declares and checks the parameters, loads the model and
    makes the node's publishers, subscriptions and timers; a setting that cannot work fails
    the transition, and the node stays unconfigured, ERROR on /diagnostics. activate() and
    deactivate() start and stop the work (`active`) and keep the state; cleanup destroys
    what configure made and forgets every attribute it set, the model included, so that
    configure starts afresh. With `autostart` (the default) the node configures and
    activates itself as it starts, as a plain node does, and a setting that cannot work is
    raised from the constructor.

    Health (health(), core/health.py) goes to /diagnostics every `stats_period`, as
    diagnostic_updater does (one status named after the node, its hardware id, the counters
    and gauges as key-values), and at once when it gets worse (report_if_worse); ~/stats
    carries the same status for whoever subscribes.
    """

    hardware_id = ''  # what the status names as its hardware: the robot, or the cloud
    _configured: set[str] = set()  # attributes configure set (replaced, never changed)

    def __init__(self, name: str, role: str, **kwargs: Any) -> None:
        GuardedNode.__init__(self, name, role, **kwargs)
        LifecycleNodeMixin.__init__(self)
        self.active = False
        self.configure_error = ''  # why the last configure failed
        self._failure: Exception | None = None  # ... as raised, for autostart to raise
        values = declare(self, MANAGED)
        self.reported = Level.OK  # the level last published
        self.counted: dict[str, int] = {}  # the counters at the last periodic report
        self.diagnostics_pub: Publisher | None = None
        if values['stats_period'] > 0:
            self.diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.report_every(values['stats_period'])
        if values['autostart']:
            self.trigger_configure()
            if self._failure is not None:
                raise self._failure
            self.trigger_activate()

    def destroy_node(self) -> None:
        """Release what configure made (its threads first), then the node and its state machine.

        rclpy's LifecycleNodeMixin never destroys its state machine, which holds the node:
        without this the node, and with it Fast DDS's participant and its 64 MiB segment in
        /dev/shm, lived until the interpreter's teardown, which spin() skips.
        """
        self._release()
        super().destroy_node()
        if (machine := getattr(self, '_state_machine', None)) is not None:
            machine.destroy_when_not_in_use()

    # What each node fills in.
    def configure(self) -> None:
        """Declare and check the parameters, load the model, make the node's entities."""
        raise NotImplementedError

    def activate(self) -> None:
        """Start the work (`active` is already True)."""

    def deactivate(self) -> None:
        """Stop the work (`active` is already False), keeping the state."""

    def release(self) -> None:
        """Stop what configure started beyond entities (threads), before they are destroyed."""

    def health(self, growth: dict[str, int]) -> Health:
        """How the active node is, given the counters that grew since the last report."""
        return assess(growth, ())

    # The lifecycle.
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """configure(); a setting that cannot work fails the transition."""
        self._failure = None
        try:
            self._configure()
        except (NeucodexError, ParameterException) as err:
            self._failure = err
            if not self.get_parameter('autostart').value:  # (else spin() says it, and exits)
                self.get_logger().error(f'cannot configure: {err}')
            return TransitionCallbackReturn.FAILURE
        except Exception as err:  # a bug: say where, and stay unconfigured
            self._failure = err
            self.configure_error = f'{type(err).__name__}: {err}'
            self.get_logger().error('configure failed:\n' + traceback.format_exc())
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start the work."""
        self.active = True
        self.activate()
        self.get_logger().info('active')
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop the work, keep the state."""
        self.active = False
        self.deactivate()
        self.get_logger().info('inactive: no new work until activated again')
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release the model and everything configure made."""
        self._release()
        self.get_logger().info('cleaned up: model released')
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything before the node goes."""
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """A transition raised: release everything, back to unconfigured."""
        self._release()
        return TransitionCallbackReturn.SUCCESS  # back to unconfigured

    def _configure(self) -> None:
        before = set(vars(self)) | {'_made', '_configured', 'configure_error'}
        self._made = []
        self.configure_error = ''
        try:
            self.configure()
        except BaseException as err:
            self._configured = set(vars(self)) - before
            self._release()
            self.configure_error = str(err) or type(err).__name__
            raise
        self._configured = set(vars(self)) - before
        warn_unknown_parameters(self)

    def _release(self) -> None:
        """Undo configure: its threads stopped, its entities destroyed, its attributes gone."""
        self.active = False
        if self._configured:
            self.release()
        destroy = {Publisher: self.destroy_publisher, Subscription: self.destroy_subscription,
                   Timer: self.destroy_timer, GuardCondition: self.destroy_guard_condition}
        for entity in self._made or []:
            destroy[next(kind for kind in destroy if isinstance(entity, kind))](entity)
        self._made = None
        for name in self._configured:
            delattr(self, name)
        self._configured = set()

    # Health.
    def _health(self, growth: dict[str, int]) -> Health:
        if self.configure_error:
            return Health(Level.ERROR, f'cannot configure: {self.configure_error}')
        if not self.active:
            label = self._state_machine.current_state[1]
            return Health(Level.WARN, f'{label}: does no work until configured and activated '
                          '(~/change_state)')
        return self.health(growth)

    def _publish_health(self, health: Health) -> None:
        values = dict(self.counters) | (self.gauges() if self._configured else {})
        array = diagnostic_array(self, health, values | {
            'state': self._state_machine.current_state[1]}, self.hardware_id)
        self.diagnostics_pub.publish(array)
        if self.stats_pub.get_subscription_count() > 0:
            self.stats_pub.publish(array)
        self.reported = health.level

    def report(self) -> None:
        """The periodic report: health over the counters that grew since the last one."""
        counted = dict(self.counters)
        self._publish_health(self._health(grown(counted, self.counted)))
        self.counted = counted

    def report_if_worse(self) -> None:
        """Report now if the node got worse since the last report (say, the cloud is gone)."""
        if self.diagnostics_pub is not None and (health := self._health(
                grown(self.counters, self.counted))).level > self.reported:
            self._publish_health(health)


def diagnostic_array(node: Node, health: Health, values: dict[str, Any],
                     hardware_id: str = '') -> DiagnosticArray:
    """One DiagnosticStatus named after the node, a key-value per value, stamped now."""
    status = DiagnosticStatus(level=bytes([health.level]), name=node.get_fully_qualified_name(),
                              message=health.message, hardware_id=hardware_id,
                              values=[KeyValue(key=key, value=str(value))
                                      for key, value in sorted(values.items())])
    array = DiagnosticArray(status=[status])
    array.header.stamp = node.get_clock().now().to_msg()
    return array


