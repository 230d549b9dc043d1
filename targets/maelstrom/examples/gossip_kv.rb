#!/usr/bin/env ruby
# A Maelstrom lin-kv node that is NOT linearizable: every node answers from its own copy and tells the
# others about each write afterwards (gossip). A read on one node can miss a write another node has
# already acknowledged, and a partition makes that last as long as the partition does.
require "json"
$stdout.sync = true
node, peers, next_id, kv = nil, [], 0, {}

send = lambda do |dest, body|
  next_id += 1
  puts JSON.generate({src: node, dest: dest, body: body.merge(msg_id: next_id)})
end

$stdin.each_line do |line|
  msg = JSON.parse(line)
  src, body = msg["src"], msg["body"]
  key = body["key"].to_s
  case body["type"]
  when "init"
    node = body["node_id"]
    peers = body["node_ids"] - [node]
    send.call(src, {type: "init_ok", in_reply_to: body["msg_id"]})
  when "gossip"
    kv[key] = body["value"]
  when "read"
    reply = kv.key?(key) ? {type: "read_ok", value: kv[key]} : {type: "error", code: 20}
    send.call(src, reply.merge(in_reply_to: body["msg_id"]))
  when "write", "cas"
    if body["type"] == "cas" && !kv.key?(key) && !body["create_if_not_exists"]
      send.call(src, {type: "error", code: 20, in_reply_to: body["msg_id"]})
    elsif body["type"] == "cas" && kv.key?(key) && kv[key] != body["from"]
      send.call(src, {type: "error", code: 22, in_reply_to: body["msg_id"]})
    else
      kv[key] = body["type"] == "cas" ? body["to"] : body["value"]
      send.call(src, {type: "#{body["type"]}_ok", in_reply_to: body["msg_id"]})
      peers.each { |peer| send.call(peer, {type: "gossip", key: body["key"], value: kv[key]}) }
    end
  end
end
