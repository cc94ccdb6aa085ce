"""A job's events reach the server in order, in numbered batches, whatever the server
answers meanwhile (503, nothing at all); its answers cancel the job or end the attempt."""

from __future__ import annotations

import socket
import threading

import pytest

from conveyor.engine.events import JobFinished, LogLines, Status
from conveyor.engine.plan import JobOutcome
from conveyor.engine.results import JobResult
from conveyor.executors.base import Cancellation
from conveyor.worker.channel import AttemptOver, EventChannel
from conveyor.worker.client import ServerClient
from tests.worker.conftest import wait_for
from tests.worker.receiver import WORKER_TOKEN, Dispatch, Receiver, serving

TOKEN = "attempt-token"


def _outcome(status: Status = Status.SUCCESS) -> JobOutcome:
    return JobOutcome(JobResult(job_key="build", job_id="build", name="build", status=status))


def _channel(url: str, cancellation: Cancellation | None = None, **options: float) -> EventChannel:
    client = ServerClient(url, WORKER_TOKEN, timeout=5)
    return EventChannel(client, 3, TOKEN, cancellation or Cancellation(), **options)  # type: ignore[arg-type]


def _lines(count: int, channel: EventChannel) -> list[str]:
    texts = [f"line {index}" for index in range(count)]
    for text in texts:
        channel.emit(LogLines(job_key="build", step=0, text=text))
    return texts


def _texts(dispatch: Dispatch) -> list[str]:
    return [event["text"] for event in dispatch.events() if event["type"] == "log"]


def test_batches_are_numbered_and_sent_again_after_503_in_order(receiver: Receiver) -> None:
    dispatch = Dispatch(token=TOKEN, plan={}, repository="widgets")
    receiver.add(3, dispatch)
    receiver.refuse(3, "events", 503, 503, 503)
    receiver.refuse(3, "finish", 503)
    channel = _channel(receiver.url, batch_bytes=2000).start()

    sent = _lines(500, channel)
    channel.emit(JobFinished("build", "build", Status.SUCCESS, 0.1))
    channel.finish(_outcome())

    assert _texts(dispatch) == sent  # nothing dropped, nothing twice, in order
    assert dispatch.events()[-1]["type"] == "job_finished"
    seqs = sorted(dispatch.batches)
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) > 2  # 500 lines do not fit one 2000-byte batch
    assert dispatch.finished is not None and dispatch.finished["result"]["status"] == "success"
    assert not receiver.refusals[(3, "events")] and not receiver.refusals[(3, "finish")]


def test_events_wait_while_the_server_is_unreachable_then_all_arrive() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = _channel(f"http://127.0.0.1:{port}").start()
    sent = _lines(50, channel)
    receiver = Receiver()
    dispatch = Dispatch(token=TOKEN, plan={}, repository="widgets")
    receiver.add(3, dispatch)
    with serving(receiver, port=port):
        sent += _lines(20, channel)
        channel.finish(_outcome())
    assert [text for text in _texts(dispatch)] == [*sent[:50], *sent[50:]]
    assert dispatch.finished is not None


def test_an_idle_job_sends_empty_batches_as_its_heartbeat(receiver: Receiver) -> None:
    dispatch = Dispatch(token=TOKEN, plan={}, repository="widgets")
    receiver.add(3, dispatch)
    channel = _channel(receiver.url, heartbeat_seconds=0.05).start()
    wait_for(lambda: len(dispatch.batches) >= 3, what="three heartbeats")
    channel.finish(_outcome())
    assert all(events == [] for events in dispatch.batches.values())
    assert sorted(dispatch.batches) == list(range(1, len(dispatch.batches) + 1))


def test_the_servers_cancel_cancels_the_job(receiver: Receiver) -> None:
    dispatch = Dispatch(token=TOKEN, plan={}, repository="widgets", cancel=True)
    receiver.add(3, dispatch)
    cancellation = Cancellation()
    channel = _channel(receiver.url, cancellation, heartbeat_seconds=0.05).start()
    assert cancellation.wait(30)
    channel.finish(_outcome(Status.CANCELLED))
    assert dispatch.finished is not None


def test_an_attempt_the_server_ended_is_cancelled_and_sends_nothing_more(
    receiver: Receiver,
) -> None:
    dispatch = Dispatch(token=TOKEN, plan={}, repository="widgets", lost=True)
    receiver.add(3, dispatch)
    cancellation = Cancellation()
    channel = _channel(receiver.url, cancellation).start()
    _lines(5, channel)
    assert cancellation.wait(30)
    assert channel.over == "worker lost"
    with pytest.raises(AttemptOver):
        channel.finish(_outcome())
    assert dispatch.batches == {} and dispatch.finished is None


def test_events_emitted_from_many_threads_all_arrive(receiver: Receiver) -> None:
    dispatch = Dispatch(token=TOKEN, plan={}, repository="widgets")
    receiver.add(3, dispatch)
    channel = _channel(receiver.url, batch_bytes=500).start()

    def emit(step: int) -> None:
        for index in range(100):
            channel.emit(LogLines(job_key="build", step=step, text=f"{step}:{index}"))

    threads = [threading.Thread(target=emit, args=(step,)) for step in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    channel.finish(_outcome())
    events = dispatch.events()
    for step in range(4):
        mine = [event["text"] for event in events if event["step"] == step]
        assert mine == [f"{step}:{index}" for index in range(100)]
