"""What the neucodex_ros nodes share: parameters, lifecycle, health, counters, the main loop."""

from __future__ import annotations

import functools
import math
import os
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.guard_condition import GuardCondition
from rclpy.lifecycle import LifecycleNodeMixin, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.signals import SignalHandlerOptions
from rclpy.subscription import Subscription
from rclpy.timer import Timer

from neucodex_ros import shared_memory
from neucodex_ros.core.checkpoint import Checkpoint, load_checkpoint, pick_device
from neucodex_ros.core.errors import ConfigError, NeucodexError
from neucodex_ros.core.health import Health, Level, assess, grown
from neucodex_ros.msg import ExitSignal, Prediction
from neucodex_ros.processes import CONFIG_ERROR, stop_with_parent

#: ExitSignal.status on the link → Prediction.status, the robot-facing name of the outcome.
STATUS_NAMES = {ExitSignal.STATUS_OK: Prediction.STATUS_OK,
                ExitSignal.STATUS_TIMEOUT: Prediction.STATUS_TIMEOUT,
                ExitSignal.STATUS_EVICTED: Prediction.STATUS_EVICTED,
                ExitSignal.STATUS_LOST: Prediction.STATUS_LOST}


def saturated_uint32(value: int) -> int:
    """A count for a uint32 message field: capped at its largest value rather than raising."""
    return min(value, 2**32 - 1)


def declare(node: Node, name: str, default: Any, description: str, *,
            low: float | None = None, high: float | None = None,
            choices: Sequence[str] | None = None, read_only: bool = False) -> Any:
    """Declare a parameter with a description; return its value.

    A number may have a range (`low`, `high`), a string its `choices`: both show in
    `ros2 param describe`, and a value outside them is refused (a ConfigError for choices).
    A parameter declared already (a managed node configured again) keeps its value.
    """
    if node.has_parameter(name):
        value = node.get_parameter(name).value
    else:
        value = node.declare_parameter(name, default, _descriptor(
            name, default, description, low, high, choices, read_only)).value
    if choices is not None and value not in choices:
        raise ConfigError(f'{name} must be one of {tuple(choices)}, got {value!r}')
    return value


def _descriptor(name: str, default: Any, description: str, low: float | None,
                high: float | None, choices: Sequence[str] | None,
                read_only: bool) -> ParameterDescriptor:
    """What `ros2 param describe` shows of a parameter, and the range rclpy enforces."""
    descriptor = ParameterDescriptor(description=description, read_only=read_only)
    if choices is not None:
        descriptor.additional_constraints = f'one of: {", ".join(choices)}'
    if low is not None and high is not None:
        if isinstance(default, bool) or not isinstance(default, int | float):
            raise TypeError(f'parameter {name}: a range needs a number')
        if isinstance(default, int):
            descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high),
                                                     step=1)]
        else:
            descriptor.floating_point_range = [FloatingPointRange(from_value=float(low),
                                                                  to_value=float(high))]
    return descriptor


def declare_common(node: Node) -> dict[str, Any]:
    """Parameters both sides of the split have: model, device, link QoS, topic names."""
    return {
        'checkpoint': declare(node, 'checkpoint', '', 'Model checkpoint (.pt) written by '
                              '`neucodex-ros train`; empty: the shipped digits model',
                              read_only=True),
        'device': declare(node, 'device', 'auto', "Torch device: 'cpu', 'cuda', 'cuda:1' or "
                          "'auto' (CUDA when present)", read_only=True),
        'torch_threads': declare(node, 'torch_threads', 1, 'Torch intra-op threads. 1 gives '
                                 'the lowest latency for one sample at a time: a thread pool '
                                 'waking up after idle costs milliseconds', low=1, high=256,
                                 read_only=True),
        'reliable': declare(node, 'reliable', True, 'Reliable (true) or best-effort (false) '
                            'QoS for spikes, exit signals and predictions', read_only=True),
        'qos_depth': declare(node, 'qos_depth', 64, 'History depth (messages) of the spikes, '
                             'exit signal and prediction topics', low=1, high=10000,
                             read_only=True),
        'spikes_topic': declare(node, 'spikes_topic', '/spikes', 'PackedSpikes, edge → cloud '
                                '(absolute: robots in namespaces share a cloud)',
                                read_only=True),
        'exit_topic': declare(node, 'exit_topic', '/exit_signal', 'ExitSignal, cloud → edge '
                              '(every robot hears every answer, and takes its own)',
                              read_only=True),
    }


def load_model(common: dict[str, Any]) -> Checkpoint:
    """The checkpoint named by the common parameters, on their device and thread count."""
    torch.set_num_threads(common['torch_threads'])
    return load_checkpoint(common['checkpoint'] or None, str(pick_device(common['device'])))


def model_fingerprint(model_id: str) -> int:
    """A checkpoint's model id (16 hex digits) as PackedSpikes.model_id carries it."""
    return int(model_id, 16)


def take_waiting(subscription: Any) -> list[Any]:
    """Every message waiting in a subscription's history, taken now.

    rclpy's executor takes one message per subscription per wait; a node that must see the
    whole backlog at once (to serve its sources in turn) takes the rest itself, as the
    executor does.
    """
    messages = []
    with subscription.handle:
        while (taken := subscription.handle.take_message(subscription.msg_type,
                                                         subscription.raw)) is not None:
            messages.append(taken[0])
    return messages


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
        autostart: bool = declare(self, 'autostart', True, 'Configure and activate at start, '
                                  'without a lifecycle manager; false: wait for configure '
                                  'and activate on ~/change_state (as nav2_lifecycle_manager '
                                  'sends them)', read_only=True)
        period: float = declare(self, 'stats_period', 1.0, 'Seconds between health reports '
                                'on /diagnostics (and the counters on ~/stats), both '
                                'diagnostic_msgs/DiagnosticArray; 0: none', low=0.0,
                                high=3600.0, read_only=True)
        self.reported = Level.OK  # the level last published
        self.counted: dict[str, int] = {}  # the counters at the last periodic report
        self.diagnostics_pub: Publisher | None = None
        if period > 0:
            self.diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
            self.stats_pub = self.create_publisher(DiagnosticArray, '~/stats', 10)
            self.create_timer(period, self.report)
        if autostart:
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

    def gauges(self) -> dict[str, int]:
        """Values of the configured node's state, reported beside the counters."""
        return {}

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


def publish_stats(node: Node, counters: Counters, period: float,
                  gauges: Callable[[], dict[str, int]] = dict) -> None:
    """Publish the node's counters and `gauges()` on ~/stats every `period` s (none if 0).

    One DiagnosticStatus named after the node, a key-value per counter or gauge, so
    rqt_runtime_monitor and diagnostic_aggregator read it as they read any driver's. Built
    only while someone subscribes: it costs milliseconds of Python, which an edge on a
    share of one core should not spend for nobody.
    """
    if period <= 0:
        return
    publisher = node.create_publisher(DiagnosticArray, '~/stats', 10)

    def tick() -> None:
        if publisher.get_subscription_count() == 0:
            return
        publisher.publish(diagnostic_array(node, Health(
            Level.OK, f'{sum(counters.values())} events counted'), dict(counters) | gauges()))

    node.create_timer(period, tick)


def warn_unknown_parameters(node: Node) -> None:
    """Name every parameter given to the node (params file, -p) that it does not declare.

    rclpy ignores them silently, so a misspelt `image_topc:=/cam` would just not apply.
    (rclpy keeps what was given in Node._parameter_overrides; there is no public accessor.)
    """
    given = getattr(node, '_parameter_overrides', {})
    unknown = sorted(name for name in given if not node.has_parameter(name))
    if unknown:
        node.get_logger().warning(
            f'ignoring parameters this node does not have: {", ".join(unknown)} (misspelt? '
            '`ros2 param list` or the parameters file of this package lists the real ones)')


class _Stop:
    """Ctrl-C or SIGTERM heard: a flag, and a wake-up for the executor; nothing raised.

    An exception raised from a signal handler lands wherever the main thread is, inside
    rclpy's own calls too (where pybind11 reports it as an unrelated RuntimeError while
    taking a message), so the handler only asks, and the spin loop stops.
    """

    def __init__(self) -> None:
        self.requested = False
        self.wake: GuardCondition | None = None

    def __call__(self, signum: int, frame: object) -> None:
        self.requested = True
        if self.wake is not None:
            self.wake.trigger()


def spin(make_node: Callable[[], Node], args: list[str] | None = None) -> NoReturn:
    """Run one node until Ctrl-C or SIGTERM, log its summary, shut down cleanly, and exit.

    rclpy's own signal handler is off so that the context is still valid while the node
    logs its summary; a Ctrl-C while the node starts stops it once started. A NeucodexError
    while starting (a bad checkpoint or parameter) exits with CONFIG_ERROR, which tells a
    supervisor that starting it again will not help. Once the node is destroyed and rclpy
    shut down nothing is left to run, so the process leaves at once: Python's own teardown
    (collecting torch's and rclpy's objects) took 20 to 75 s under a quarter of a core, past
    the stop timeouts of ros2 launch and the benchmark.
    """
    code = _spin(make_node, args)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _spin(make_node: Callable[[], Node], args: list[str] | None) -> int:
    """spin() until the node is gone; the exit code."""
    if stop_with_parent(os.environ):
        print('the process that started this node has ended: not starting', file=sys.stderr)
        return 0
    # What killed nodes left in /dev/shm goes before this one adds its own (a robot whose
    # nodes crash and respawn would fill its RAM)
    swept = shared_memory.sweep(now=time.time())
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    if swept.files:
        rclpy.logging.get_logger('neucodex_ros').info(swept.line())
    stop = _Stop()
    # SIGINT too: a process started from a non-interactive shell's background job inherits
    # an ignored SIGINT, and would then never hear ros2 launch's Ctrl-C
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    node: Node | None = None
    executor = SingleThreadedExecutor()
    try:
        node = make_node()
        if not isinstance(node, ManagedNode):  # (a managed node does at each configure)
            warn_unknown_parameters(node)
        executor.add_node(node)
        # (Node's own: not one of the entities a managed node's cleanup destroys)
        stop.wake = Node.create_guard_condition(node, lambda: None)
        while not stop.requested:
            executor.spin_once()
    except ExternalShutdownException:
        pass
    except (NeucodexError, ParameterException) as err:  # a setting that cannot work
        rclpy.logging.get_logger('neucodex_ros').fatal(str(err))
        return CONFIG_ERROR
    finally:
        stop.wake = None  # a second Ctrl-C (a terminal's and ros2 launch's) wakes nothing now
        # Callbacks the last wait found and the loop left untaken hold the node's entities
        # in use (rclpy's executor yields event handlers inside the wait), which would keep
        # the node, its Fast DDS participant and its /dev/shm files past the exit below.
        executor.shutdown()
        if node is not None:
            if isinstance(node, GuardedNode):
                node.get_logger().info(f'{node.role} summary: {node.counters.line()}')
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
