"""
Fan-out: the master's calls to the LBs (one publish for an environment's LBs), its events
(``maint/result``, ``maint/rejected``) and its answer to a minion that sent a signed request.
"""

import logging

import salt.client
import salt.utils.event

from saltext_haproxy_maint import names, request

log = logging.getLogger(__name__)

# LocalClients not in use, kept for the next request: building one builds three loaders (tens
# of ms per request; the benchmark measured it), as Salt's own reactor knows, which keeps its
# LocalClient. One client serves one request at a time (reactor threads run requests of
# different environments at once); list.pop and list.append are atomic.
_IDLE_CLIENTS = []


def fire(opts, tag, data):
    """
    Fire an event on the master's bus.

    opts
        The master's opts.

    tag
        The tag (``maint/result``, ``maint/rejected``).

    data
        The event's data.
    """
    with salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=False) as event:
        event.fire_event(data, tag)


def answer(opts, minion, nonce, data):
    """
    Send the outcome back to the minion that asked (its ``haproxy_maint.request`` waits for
    it on its own event bus). Nothing happens without a minion or a nonce.

    opts
        The master's opts.

    minion
        The minion id.

    nonce
        The signed request's nonce (it names the answer's tag).

    data
        The outcome.
    """
    if not minion or not nonce:
        return
    try:
        with salt.client.LocalClient(mopts=opts) as client:
            client.cmd_async(
                minion, "event.fire", [data, names.ANSWER_TAG.format(nonce=nonce)], tgt_type="list"
            )
    except Exception as err:  # the answer is a courtesy; the maint/result event stands
        log.warning("could not send the answer to %s: %s", minion, err)


def lb_kwargs(action, params, stamp):
    """
    The keyword arguments of the LB module's ``action`` for a request's ``params``: only the
    fields that say something, and the request's ``stamp``.

    action
        ``start`` or ``stop``.

    params
        The checked fields.

    stamp
        The master's stamp, or None.
    """
    kwargs = {
        key: params[key]
        for key in request.LB_FIELDS[action]
        if params.get(key) not in (None, [], "", False)
    }
    if stamp:
        kwargs["stamp"] = stamp
    return kwargs


def _outcome(answer):
    """One LB's outcome from its full return."""
    if not isinstance(answer, dict) or "ret" not in answer or answer.get("failed"):
        return {"outcome": "did not answer"}
    if answer.get("out") == "no_return":
        # Salt's own word for a minion that is not connected or did not respond in time.
        why = str(answer["ret"]).split("\n", 1)[0]
        return {"outcome": "did not answer", "why": why}
    ret = answer["ret"]
    if answer.get("retcode", 0) == 0 and isinstance(ret, dict):
        return {"outcome": "ok", **ret}
    return {"outcome": "failed", "why": str(ret).strip()}


def call_lbs(opts, lbs, fun, kwargs, *, timeout, gather_job_timeout):
    """
    Run ``fun`` on the LBs in one publish; return ``{lb: outcome}`` for every LB, where
    ``outcome`` is ``ok`` (with the function's return), ``failed`` or ``did not answer``
    (with ``why``).

    opts
        The master's opts.

    lbs
        Minion ids.

    fun
        The execution function (``haproxy_maint.start``).

    kwargs
        Its keyword arguments.

    timeout, gather_job_timeout
        Seconds, as Salt's LocalClient takes them.
    """
    if not lbs:
        return {}
    try:
        client = _IDLE_CLIENTS.pop()
    except IndexError:
        client = salt.client.LocalClient(mopts=opts)
    try:
        returns = client.cmd(
            lbs,
            fun,
            kwarg=kwargs,
            tgt_type="list",
            timeout=timeout,
            full_return=True,
            gather_job_timeout=gather_job_timeout,
        )
    except BaseException:
        client.destroy()
        raise
    _IDLE_CLIENTS.append(client)
    return {lb: _outcome(returns.get(lb)) for lb in lbs}
