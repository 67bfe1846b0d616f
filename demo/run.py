"""The whole story on a throw-away local cluster: ``make demo``.

A salt-master with this project's reactor, two LB minions (each a real haproxy and sorry
server under its own supervisord) and an operator minion, all under a temp dir on loopback
ports. The LBs are highstated, the app is shown, maintenance is started and stopped with
``salt-call event.send`` as an operator would (environment ``demo``, trust ``minion-id``), a
forged event is refused and a signed request goes through (environment ``demo-signed``, trust
``signed``), and every step is timed. Everything is
stopped (by PID) and removed at the end, also on Ctrl-C.
"""

import datetime
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness.cluster import Cluster, ClusterError
from harness.sandbox import http_get, serves_app, serves_page

ENV = "demo"
# The same LBs in an environment that takes signed requests only.
SIGNED_ENV = "demo-signed"
LB_COUNT = 2
BACKENDS = ("app", "api")
START_FIELDS = {"env": ENV, "reason": "Planned database upgrade", "eta": "in 10 minutes"}
STOP_FIELDS = {"env": ENV}
# The page's status document, under the prefix HAProxy serves from the page root.
STATUS_DOCUMENT = "/.maintenance/maintenance.json"
ANSWER_TIMEOUT = 60.0
SERVE_TIMEOUT = 30.0
POLL_INTERVAL = 0.02
WIDTH = 58


class StepFailed(RuntimeError):
    """A demo step did not do what it should; the message says what."""


class Demo:
    def __init__(self, root):
        self.root = root
        lb_ids = ",".join(f"lb{n}" for n in range(1, LB_COUNT + 1))
        signed = {"allow": ["ops"], "trust": "signed", "target": f"L@{lb_ids}"}
        self.cluster = Cluster(
            root,
            lb_count=LB_COUNT,
            env=ENV,
            trust="minion-id",
            extra_environments={SIGNED_ENV: signed},
        )
        self.timings = []

    # --- output ----------------------------------------------------------------------

    @staticmethod
    def heading(number, text):
        print(f"\n== {number}. {text}", flush=True)

    @staticmethod
    def say(text=""):
        print(f"   {text}" if text else "", flush=True)

    def timed(self, label, seconds):
        self.timings.append((label, seconds))
        return seconds

    def show_get(self, lb_id, backend, path="/"):
        url = self.cluster.lbs[lb_id].url(backend, path)
        status, body = http_get(url)
        if path.endswith(".json") and status == 200:
            first = json.dumps(json.loads(body))
        else:
            first = next((line.strip() for line in body.splitlines() if line.strip()), "")
        self.say(f"GET {url:<40} {lb_id}/{backend:<4} {status or 'no answer'}  {first[:90]}")
        return status, body

    # --- steps -----------------------------------------------------------------------

    def run(self):
        lbs = ", ".join(self.cluster.lbs)
        print("HAProxy maintenance failover with Salt: demo")
        self.say(f"everything runs under {self.root}, on 127.0.0.1 only;")
        self.say("nothing in /etc/salt is touched, and it is all removed at the end.")

        self.heading(1, "Start a Salt cluster")
        self.say(f"salt-master with the reactor; minions {lbs} (LBs) and ops (the operator)")
        self.say("app servers app1, app2 (backend app) and api1 (backend api)")
        began = time.monotonic()
        self.cluster.start()
        self.say(
            f"every minion answers test.ping ({self.timed('start the cluster', _since(began)):.1f} s)"
        )

        self.heading(2, "Converge the LBs: salt 'lb*' state.apply")
        began = time.monotonic()
        returns = self.cluster.highstate()
        seconds = self.timed(f"highstate of {LB_COUNT} LBs", _since(began))
        for lb_id, states in sorted(returns.items()):
            changed = sum(1 for state in states.values() if state.get("changes"))
            self.say(f"{lb_id}: {len(states)} states, all succeeded, {changed} changed")
        self.say(f"done in {seconds:.1f} s")
        began = time.monotonic()
        self.wait_all(serves_app, "every LB serves the app")
        self.timed("highstate done -> every LB serves the app", _since(began))

        self.heading(3, "The app, through both LBs")
        self.show_all()

        self.heading(4, "Start maintenance, as an operator would")
        result = self.send("maint/start", START_FIELDS, serves_page, "every LB serves the page")
        self.show_result(result)

        self.heading(5, "The maintenance page, through both LBs")
        self.show_all()
        for lb_id in self.cluster.lbs:
            status, body = self.show_get(lb_id, "app", STATUS_DOCUMENT)
            if status != 200 or json.loads(body).get("reason") != START_FIELDS["reason"]:
                raise StepFailed(f"{lb_id}: {STATUS_DOCUMENT} does not carry the reason: {body}")

        self.heading(6, f"salt-run haproxy_maint.status {ENV}")
        code, text = self.cluster.salt_run_text("haproxy_maint.status", ENV)
        for line in text.rstrip().splitlines():
            self.say(line)
        self.say(f"$ echo $?  ->  {code}")

        self.heading(7, "Stop maintenance")
        result = self.send("maint/stop", STOP_FIELDS, serves_app, "every LB serves the app")
        self.show_result(result)

        self.heading(8, "The app is back, through both LBs")
        self.show_all()

        self.heading(9, f"A forged event: lb1 poses as ops in {SIGNED_ENV} (trust: signed)")
        self.forge()

        self.heading(10, f"A signed request: salt-call haproxy_maint.request ... env={SIGNED_ENV}")
        self.request("start", serves_page, "every LB serves the page", "reason=Signed upgrade")
        self.request("stop", serves_app, "every LB serves the app")

        self.heading(11, "Timings")
        for label, seconds in self.timings:
            self.say(f"{label:<{WIDTH}} {seconds:6.2f} s")
        print("\nStopping every process of the demo (a salt-minion takes ~10 s to exit) ...")

    def forge(self):
        """A batched event from lb1 that names ops as its sender: Salt passes the id on as the
        minion wrote it, so only a signature can tell; the signed env refuses it."""
        event = {"tag": "maint/start", "data": {"id": "ops", "data": {"env": SIGNED_ENV}}}
        preload = json.dumps({"events": [event]})
        self.say(f"$ salt-call event.fire_master '{{}}' anything preload='{preload}'")
        self.say("  (as minion lb1, which is not in the allow-list)")
        with self.cluster.event_listener() as events:
            self.cluster.salt_call(
                "lb1", "event.fire_master", "{}", "anything", f"preload={preload}"
            )
            answer = events.wait("maint/re*", ANSWER_TIMEOUT)
        if answer["_tag"] != "maint/rejected":
            raise StepFailed(f"the forged event was not refused: {answer}")
        self.say(f"maint/rejected: {answer['why']}")
        for lb in self.cluster.lbs.values():
            if not serves_app(lb, "app"):
                raise StepFailed(f"{lb.minion_id} stopped serving the app after a forged event")
        self.say("every LB still serves the app")

    def request(self, action, serves, what, *fields):
        """The operator's signed command on minion ops; prints its answer and exit code."""
        args = ["haproxy_maint.request", action, f"env={SIGNED_ENV}", *fields]
        self.say(f"$ salt-call {' '.join(args)}")
        began = time.monotonic()
        code, text = self.cluster.salt_call_text("ops", "--out=json", *args)
        seconds = self.timed(f"signed {action}: salt-call -> answer printed", _since(began))
        if code != 0:
            raise StepFailed(f"haproxy_maint.request {action} exited {code}: {text[-500:]}")
        answer = json.loads(text)["local"]
        self.say(f"answer: {answer['state']}, sender {answer['sender']}, in {seconds:.2f} s")
        self.say(f"$ echo $?  ->  {code}")
        self.wait_all(serves, what)
        self.say(what)

    def show_all(self):
        for lb_id in self.cluster.lbs:
            for backend in BACKENDS:
                self.show_get(lb_id, backend)

    def wait_all(self, serves, what):
        """Wait until every backend of every LB passes ``serves``; return when (time.time)."""
        deadline = time.monotonic() + SERVE_TIMEOUT
        pending = [(lb, backend) for lb in self.cluster.lbs.values() for backend in BACKENDS]
        while pending:
            pending = [(lb, backend) for lb, backend in pending if not serves(lb, backend)]
            if pending and time.monotonic() > deadline:
                names = ", ".join(f"{lb.minion_id}/{backend}" for lb, backend in pending)
                raise StepFailed(f"not within {SERVE_TIMEOUT:.0f} s: {what} ({names})")
            if pending:
                time.sleep(POLL_INTERVAL)
        return time.time()

    def send(self, tag, fields, serves, what):
        """Fire ``tag`` with the real salt-call CLI as minion ``ops``; time the answer and
        the moment every LB serves what it should; return the ``maint/result`` data."""
        payload = json.dumps(fields)
        self.say(f"$ salt-call event.send {tag} '{payload}'")
        self.say(f"  (as minion ops: salt-call -c {self.cluster.minion_config_dir('ops')})")
        served = {}
        poller = threading.Thread(
            target=lambda: served.update(at=self._poll(serves, what, served)), daemon=True
        )
        with self.cluster.event_listener() as events:
            poller.start()
            began = time.monotonic()
            sent = self.cluster.salt_call("ops", "event.send", tag, payload)
            if sent is not True:
                raise StepFailed(f"salt-call event.send {tag} returned {sent!r}")
            cli_seconds = _since(began)
            received = events.wait(tag, ANSWER_TIMEOUT, match=lambda d: d.get("id") == "ops")
            answer = events.wait(
                "maint/re*",
                ANSWER_TIMEOUT,
                match=lambda d: d.get("sender") == "ops" or d.get("_tag") == "maint/rejected",
            )
        if answer["_tag"] == "maint/rejected":
            raise StepFailed(f"{tag} was rejected: {answer.get('why')}")
        poller.join(SERVE_TIMEOUT + 5)
        if "error" in served:
            raise StepFailed(served["error"])
        at = _stamp(received)
        action = tag.split("/")[1]
        self.timed(f"{tag}: salt-call event.send (CLI start-up included)", cli_seconds)
        self.timed(f"{tag}: master received it -> maint/result", _stamp(answer) - at)
        self.timed(f"{tag}:   of which runner + LBs (duration_s)", answer["duration_s"])
        self.timed(f"{tag}: master received it -> {what.split()[-1]} everywhere", served["at"] - at)
        self.say(f"maint/result for {action}: {answer['state']} in {answer['duration_s']:.2f} s")
        return answer

    def _poll(self, serves, what, served):
        try:
            return self.wait_all(serves, what)
        except StepFailed as err:
            served["error"] = str(err)
            return None

    def show_result(self, result):
        for lb_id, outcome in sorted(result["lbs"].items()):
            if outcome["outcome"] != "ok":
                self.say(f"  {lb_id}: {outcome['outcome']} {outcome.get('why', '')}")
                continue
            moved = [
                f"{backend}/{server}"
                for backend, servers in sorted((outcome.get("changed") or {}).items())
                for server in servers
            ]
            took = outcome.get("duration_s", 0) * 1000
            self.say(
                f"  {lb_id}: {outcome.get('state')}, servers {' '.join(moved) or '-'}"
                f" ({took:.0f} ms on the LB)"
            )
        if not result["result"]:
            raise StepFailed(f"{result['action']} did not succeed: failed on {result['failed']}")


def _since(began):
    return time.monotonic() - began


def _stamp(event):
    """The master's receive time of an event, as a Unix time."""
    return datetime.datetime.fromisoformat(event["_stamp"]).timestamp()


def main():
    if os.geteuid() != 0:
        print("make demo runs salt-master and haproxy as root: run it as root.", file=sys.stderr)
        return 2
    # Salt's client code logs through the root logger; the demo prints its own story.
    logging.basicConfig(level=logging.CRITICAL)
    root = Path(tempfile.mkdtemp(prefix="haproxy-maint-demo-"))
    demo = Demo(root)
    status, keep = 0, False
    try:
        demo.run()
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything", flush=True)
        status = 130
    except SystemExit as err:
        # Cluster's SIGTERM handler has stopped everything already.
        print("\nterminated: stopping everything", flush=True)
        status = err.code
    except (ClusterError, StepFailed, TimeoutError) as err:
        print(f"\ndemo FAILED: {err}", file=sys.stderr, flush=True)
        status, keep = 1, True
    finally:
        began = time.monotonic()
        demo.cluster.stop()
        stopped = _since(began)
        if keep:
            print(f"logs kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    if status == 0:
        print(f"Done: every process stopped ({stopped:.1f} s), the temp dir removed.")
    return status
