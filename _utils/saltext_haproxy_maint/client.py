"""
The operator's signed request, sent from an operator's minion (``salt-call
haproxy_maint.request``): check the fields, sign them with the minion's own Salt key, send
the event, wait for the master's answer on the minion's own event bus.
"""

import os

from saltext_haproxy_maint import events, names, request, signing


def send_signed(opts, send_event, action, env=None, *, wait, fields):
    """
    Sign and send a request, and return ``(answer, retcode)``: the master's answer (None
    when none came within ``wait``) and the exit code it means (0 every LB did it, 1 some LB
    did not, 2 refused, 3 no answer).

    opts
        The minion's opts (``id``, ``pki_dir``, ``sock_dir``).

    send_event
        A function ``(tag, data)`` that fires the event to the master (``event.send``).

    action
        ``start``, ``stop`` or ``cancel``.

    env
        The environment.

    wait
        Seconds to wait for the answer.

    fields
        The request's other fields; keys starting with ``__`` (Salt's) and None values are
        left out.
    """
    tag = names.tag_for(action)
    fields = {key: value for key, value in fields.items() if not key.startswith("__")}
    fields = {key: value for key, value in {"env": env, **fields}.items() if value is not None}
    # The master checks everything again; checking here first saves a round trip and gives
    # the YAML typing hints where the operator typed the command.
    request.parse(tag, fields)
    key_path = os.path.join(opts["pki_dir"], signing.MINION_PRIVATE_KEY)
    envelope = signing.sign(tag, opts["id"], fields, key_path)
    answer_tag = names.ANSWER_TAG.format(nonce=envelope["nonce"])
    with events.minion_listener(opts) as listener:
        send_event(tag, {**fields, signing.SIGNATURE_FIELD: envelope})
        answer = events.wait_for(listener, answer_tag, float(wait))
    if answer is None:
        return None, names.RETCODE_NO_ANSWER
    answer = {key: value for key, value in answer.items() if not key.startswith("_")}
    return answer, answer.get("retcode", 0 if answer.get("result") else 1)
