"""Hooks for scenarios/mqtt_iot.yaml: IoT devices that publish telemetry over MQTT, timed into rows.

Each virtual user is a device with its own MQTT client (paho-mqtt: `pip install
'yamlswarm[mqtt]'`). It connects and subscribes to its own topic, then each iteration
publishes one reading with QoS 1 and waits for it to come back through the broker. Rows of
kind MQTT, with percentiles like any request row: `connect` (TCP + CONNECT/CONNACK),
`subscribe` (until SUBACK), `publish` (until the broker's PUBACK), `receive` (from the
publish to the message's arrival back at the device).

The network loop: **`client.loop()` called in the user's own greenlet**, not `loop_start()`.
`yamlswarm run` monkey-patches gevent before anything else (`yamlswarm/__main__.py`, sockets,
`select` and threads included), so paho's blocking `select()` yields to the other users while
this one waits. `loop_start()` would work too (its thread becomes a greenlet), but each
device would then be two greenlets: the arrival of a message would be seen by the other one
and only later by the user timing it, and a user stopped at the end of the run would leave
its loop greenlet behind. Driving the loop from the greenlet that times the exchange keeps
one greenlet per device, the measured block containing exactly the network I/O, and a stop
that ends everything the user owns.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

try:
    import paho.mqtt.client as mqtt
except ImportError:  # validate needs no extra; a run without it fails each connect clearly
    mqtt = None  # type: ignore[assignment]

TIMEOUT_S = 5.0


class Device:
    """One user's MQTT session: its client, its topic, the acknowledgements and arrivals."""

    def __init__(self, user) -> None:
        if mqtt is None:
            raise RuntimeError("this example needs paho-mqtt: pip install 'yamlswarm[mqtt]'")
        prefix = user.vars.get("topic_prefix", "yamlswarm/devices")
        name = f"{os.getpid()}-{user.id}"  # unique across the processes of a distributed run
        self.topic = f"{prefix}/{name}"
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"yamlswarm-{name}", clean_session=True
        )
        self.client.on_connect = self._connected
        self.client.on_subscribe = self._subscribed
        self.client.on_message = self._message
        self.connack: object | None = None  # the CONNACK's reason code once it came
        self.subscribed = False
        self.arrived: dict[bytes, float] = {}  # payload -> perf_counter() when it came back

    def _connected(self, client, userdata, flags, reason_code, properties) -> None:
        self.connack = reason_code

    def _subscribed(self, client, userdata, mid, reason_codes, properties) -> None:
        self.subscribed = True

    def _message(self, client, userdata, message) -> None:
        self.arrived[bytes(message.payload)] = time.perf_counter()

    def wait(self, done: Callable[[], bool], what: str, timeout: float = TIMEOUT_S) -> None:
        """Run the client's network loop in this greenlet until `done()` (TimeoutError after
        `timeout` s). `loop()` returns as soon as something arrived, so nothing waits idly."""
        deadline = time.perf_counter() + timeout
        while not done():
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"no {what} within {timeout:g} s")
            rc = self.client.loop(timeout=min(left, 0.1))
            if rc != mqtt.MQTT_ERR_SUCCESS:
                raise ConnectionError(mqtt.error_string(rc))


def connect(user) -> None:
    """on_start: connect to the broker (`broker` variable, HOST:PORT) and subscribe."""
    host, _, port = str(user.vars["broker"]).rpartition(":")
    device = user.vars["device"] = Device(user)
    with user.measure("connect", kind="MQTT"):
        device.client.connect(host, int(port), keepalive=30)
        device.wait(lambda: device.connack is not None, "CONNACK")
        if device.connack.is_failure:
            raise ConnectionError(f"broker refused: {device.connack}")
    with user.measure("subscribe", kind="MQTT"):
        device.client.subscribe(device.topic, qos=1)
        device.wait(lambda: device.subscribed, "SUBACK")


def publish_reading(user) -> None:
    """A flow step: publish one reading (QoS 1, until PUBACK), then wait for it to come back."""
    device: Device | None = user.vars.get("device")
    if device is None:
        raise RuntimeError("no MQTT client: the connect in on_start failed (see its error)")
    payload = f'{{"device": "{device.topic}", "seq": {user.iteration}, "t": {time.time():.3f}}}'
    data = payload.encode()
    sent = time.perf_counter()
    with user.measure("publish", kind="MQTT"):
        info = device.client.publish(device.topic, data, qos=1)
        device.wait(info.is_published, "PUBACK")
    try:
        device.wait(lambda: data in device.arrived, "message back")
    except TimeoutError as exc:
        user.record("MQTT", "receive", time.perf_counter() - sent, error=exc)
        return
    user.record("MQTT", "receive", device.arrived.pop(data) - sent, size=len(data))


def disconnect(user) -> None:
    """on_stop: say goodbye to the broker (DISCONNECT) and close the socket."""
    device: Device | None = user.vars.get("device")
    if device is not None:
        device.client.disconnect()
