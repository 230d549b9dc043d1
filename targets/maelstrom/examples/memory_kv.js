#!/usr/bin/env node
// A Maelstrom lin-kv node that is linearizable while every node stays up, and forgets on a restart:
// n1 serves every op from a map in memory (the others forward to it), so after n1 is killed and
// restarted the writes it acknowledged are gone. Maelstrom's partition-only runs cannot see that.
const readline = require("readline");
let node = null, nextId = 0;
const kv = new Map(), waiting = new Map();

function send(dest, body) {
  nextId += 1;
  process.stdout.write(JSON.stringify({src: node, dest, body: {...body, msg_id: nextId}}) + "\n");
  return nextId;
}

function apply(req) {
  const key = String(req.key);
  switch (req.type) {
    case "read":
      return kv.has(key) ? {type: "read_ok", value: kv.get(key)} : {type: "error", code: 20};
    case "write":
      kv.set(key, req.value);
      return {type: "write_ok"};
    case "cas":
      if (!kv.has(key) && !req.create_if_not_exists) return {type: "error", code: 20};
      if (kv.has(key) && kv.get(key) !== req.from) return {type: "error", code: 22};
      kv.set(key, req.to);
      return {type: "cas_ok"};
    default:
      return {type: "error", code: 10};
  }
}

readline.createInterface({input: process.stdin}).on("line", (line) => {
  const {src, body} = JSON.parse(line);
  if (body.type === "init") {
    node = body.node_id;
    send(src, {type: "init_ok", in_reply_to: body.msg_id});
  } else if (body.type === "forward") {
    send(src, {type: "forward_ok", in_reply_to: body.msg_id, reply: apply(body.req)});
  } else if (body.type === "forward_ok" && waiting.has(body.in_reply_to)) {
    const [client, clientMsg] = waiting.get(body.in_reply_to);
    waiting.delete(body.in_reply_to);
    send(client, {...body.reply, in_reply_to: clientMsg});
  } else if (node === "n1") {
    send(src, {...apply(body), in_reply_to: body.msg_id});
  } else {
    waiting.set(send("n1", {type: "forward", req: body}), [src, body.msg_id]);
  }
});
