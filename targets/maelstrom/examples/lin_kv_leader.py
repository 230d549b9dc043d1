#!/usr/bin/env python3
"""A linearizable Maelstrom lin-kv node: n1 serves every op; the others forward to it.

n1 keeps the map in state.json in its working directory (its data volume), written and fsynced before
it answers a write, so it survives kill -9. A forwarder that gets no answer says nothing: the client's
op stays of unknown outcome, never a wrong one.
"""
import json, os, sys

node, kv, next_id, waiting = None, {}, 0, {}


def send(dest, body):
    global next_id
    next_id += 1
    print(json.dumps({"src": node, "dest": dest, "body": {**body, "msg_id": next_id}}), flush=True)
    return next_id


def persist():
    with open("state.tmp", "w") as f:
        json.dump(kv, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace("state.tmp", "state.json")
    dirfd = os.open(".", os.O_RDONLY)
    os.fsync(dirfd)
    os.close(dirfd)


def apply(req):
    key = str(req.get("key"))
    if req["type"] == "read":
        return {"type": "read_ok", "value": kv[key]} if key in kv else {"type": "error", "code": 20}
    if req["type"] == "write":
        kv[key] = req["value"]
    elif req["type"] == "cas":
        if key not in kv and not req.get("create_if_not_exists"):
            return {"type": "error", "code": 20}
        if key in kv and kv[key] != req["from"]:
            return {"type": "error", "code": 22}
        kv[key] = req["to"]
    else:
        return {"type": "error", "code": 10}
    persist()
    return {"type": req["type"] + "_ok"}


if os.path.exists("state.json"):
    kv = json.load(open("state.json"))
for line in sys.stdin:
    msg = json.loads(line)
    src, body = msg["src"], msg["body"]
    if body["type"] == "init":
        node = body["node_id"]
        send(src, {"type": "init_ok", "in_reply_to": body["msg_id"]})
    elif body["type"] == "forward":  # at n1: an op a forwarder took from its client
        send(src, {"type": "forward_ok", "in_reply_to": body["msg_id"], "reply": apply(body["req"])})
    elif body["type"] == "forward_ok" and body["in_reply_to"] in waiting:
        client, client_msg = waiting.pop(body["in_reply_to"])
        send(client, {**body["reply"], "in_reply_to": client_msg})
    elif node == "n1":
        send(src, {**apply(body), "in_reply_to": body["msg_id"]})
    else:
        waiting[send("n1", {"type": "forward", "req": body})] = (src, body["msg_id"])
