"""The one outbound HTTP module: parallel calls, each under its own timeout."""

from __future__ import annotations

import time
from typing import Any

from werkzeug import Request, Response

from buyers.transport import OutboundRequest, fan_out, send_all


def hang(server: Any, path: str) -> None:
    def handler(request: Request) -> Response:
        server.release.wait(5)
        return Response("late", status=200)

    server.expect_request(path).respond_with_handler(handler)


def call(server: Any, path: str, timeout_s: float) -> OutboundRequest:
    return OutboundRequest("POST", server.url_for(path), b"{}", timeout_s=timeout_s)


def test_calls_run_in_parallel_and_a_hung_one_costs_its_timeout(buyer_server: Any) -> None:
    buyer_server.expect_request("/quick").respond_with_data("ok")
    hang(buyer_server, "/hung")

    started = time.perf_counter()
    quick, hung = send_all([call(buyer_server, "/quick", 1.0), call(buyer_server, "/hung", 0.2)])
    took = time.perf_counter() - started

    assert (quick.status, quick.body) == (200, b"ok")
    assert hung.error == "timeout" and hung.status is None
    assert 0.2 <= took < 2  # its timeout, not the hang (5 s)


def test_a_cut_off_wait_ends_at_the_longest_timeout(buyer_server: Any) -> None:
    buyer_server.expect_request("/quick").respond_with_data("ok")
    hang(buyer_server, "/hung-long")
    hang(buyer_server, "/hung-short")

    started = time.perf_counter()
    answers = send_all(
        [
            call(buyer_server, "/quick", 0.3),
            call(buyer_server, "/hung-short", 0.1),
            call(buyer_server, "/hung-long", 0.3),
        ],
        cut_off=True,
    )
    took = time.perf_counter() - started

    assert [a.error for a in answers] == ["", "timeout", "timeout"]
    assert answers[0].body == b"ok"
    assert answers[2].detail == "no answer within 300 ms"
    assert 0.3 <= took < 0.4  # the longest timeout, not the loop's clean-up after it


def test_a_hung_call_holds_a_fan_out_only_until_its_own_timeout(
    buyer_server: Any, settings: Any
) -> None:
    """The others answered long before their (much longer) timeouts: the wait ends at
    the hung call's own timeout, not at the longest timeout nor when the loop drops the
    hung call (its clean-up, here put off for 3 s)."""
    settings.SWITCHYARD = {**settings.SWITCHYARD, "CUT_OFF_GRACE_MS": 3000}
    buyer_server.expect_request("/quick").respond_with_data("ok")
    hang(buyer_server, "/hung")

    started = time.perf_counter()
    answers = send_all(
        [
            call(buyer_server, "/quick", 1.5),
            call(buyer_server, "/hung", 0.15),
            call(buyer_server, "/quick", 1.5),
        ],
        cut_off=True,
    )
    took = time.perf_counter() - started

    assert [(a.status, a.error) for a in answers] == [(200, ""), (None, "timeout"), (200, "")]
    assert answers[1].detail == "no answer within 150 ms"
    assert 0.15 <= took < 1.0  # its own timeout; the others' is 1.5 s


def test_a_fan_out_waits_for_a_slow_call_still_within_its_own_timeout(
    buyer_server: Any, settings: Any
) -> None:
    settings.SWITCHYARD = {**settings.SWITCHYARD, "CUT_OFF_GRACE_MS": 3000}

    def slow(request: Request) -> Response:
        time.sleep(0.3)
        return Response("slow", status=200)

    buyer_server.expect_request("/slow").respond_with_handler(slow)
    hang(buyer_server, "/hung")
    fanout = fan_out([call(buyer_server, "/slow", 2.0), call(buyer_server, "/hung", 0.1)])

    assert fanout.wait() is False  # the hung call is past its timeout, not yet dropped
    took = time.perf_counter() - fanout.started
    assert [a.body for a in fanout.answers()] == [b"slow", b""]
    assert fanout.answers()[1].error == "timeout"
    assert 0.3 <= took < 1.5  # the slow answer, not its 2 s timeout nor the clean-up


def test_an_answer_after_its_own_timeout_is_a_timeout_even_before_the_cut_off(
    buyer_server: Any,
) -> None:
    """The loop keeps a call open a little past its timeout (the cut-off grace), but
    the auction never takes an answer that came too late."""

    def late(request: Request) -> Response:
        time.sleep(0.15)
        return Response("too late", status=200)

    buyer_server.expect_request("/late").respond_with_handler(late)
    hang(buyer_server, "/hung")

    late_answer, _ = send_all(
        [call(buyer_server, "/late", 0.1), call(buyer_server, "/hung", 0.3)], cut_off=True
    )

    assert late_answer.error == "timeout" and late_answer.status is None
    assert late_answer.detail == "no answer within 100 ms"


def test_a_fan_out_can_be_read_before_its_deadline_and_again_at_it(buyer_server: Any) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.2)
        return Response("slow", status=200)

    buyer_server.expect_request("/quick").respond_with_data("quick")
    buyer_server.expect_request("/slow").respond_with_handler(slow)
    hang(buyer_server, "/hung")
    fanout = fan_out(
        [
            call(buyer_server, "/quick", 0.4),
            call(buyer_server, "/slow", 0.4),
            call(buyer_server, "/hung", 0.4),
        ]
    )

    assert fanout.wait(fanout.started + 0.1) is False
    early = fanout.answers()
    assert [a.body for a in early] == [b"quick", b"", b""]
    assert [a.error for a in early] == ["", "timeout", "timeout"]
    assert early[2].elapsed_ms == 400 and early[2].detail == "no answer within 400 ms"
    assert fanout.counted() == {0}

    assert fanout.wait() is False  # the hung call keeps it from being all in
    assert time.perf_counter() - fanout.started < 2  # the timeout, not the 5 s hang
    assert fanout.counted() == {0, 1}
    assert [a.body for a in fanout.answers()] == [b"quick", b"slow", b""]


def test_a_cookie_a_buyer_sets_is_not_sent_on_later_calls(buyer_server: Any) -> None:
    buyer_server.expect_request("/ping").respond_with_response(
        Response("ok", headers={"Set-Cookie": "session=lead-1; Path=/"})
    )

    # By name: a cookie jar keeps nothing for a bare IP address anyway.
    url = buyer_server.url_for("/ping").replace("127.0.0.1", "localhost")
    first, second = (
        send_all([OutboundRequest("POST", url, b"{}", timeout_s=1.0)])[0] for _ in range(2)
    )

    assert first.status == second.status == 200
    assert "session=lead-1" in first.headers.get("Set-Cookie", "")
    assert [request.headers.get("Cookie") for request, _ in buyer_server.log] == [None, None]
