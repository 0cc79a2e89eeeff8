-- The Milvus status of each response, into Envoy's dynamic metadata for the
-- access log and the metrics (internal/edgemeta): namespace NS, keys code,
-- error_code (absent when 0) and reason (absent when empty). It reads only
-- the first bytes of a response body, as they stream by: the status comes
-- first in a Milvus response message, and "code" first in a REST v2 answer.
-- Nothing is buffered and nothing is changed. The control plane prepends the
-- constants NS, AUTHZ, MAX and STATUS_FIELD (xds/envoyres/status.go).
--
--   gRPC: the message's status (common.Status, or the message itself when
--   the method returns common.Status); a compressed frame is not read. An
--   error without a message (trailers-only: ext_authz's denials, Envoy's own
--   errors, Milvus's gRPC errors) gives only the reason, from grpc-message.
--   REST v2: code from a body that starts {"code":N, and message as reason
--   when the first 1 KiB holds it (Milvus's error answers are that small).

local byte, sub, find, match, char = string.byte, string.sub, string.find, string.match, string.char
local floor, min, tonumber, concat = math.floor, math.min, tonumber, table.concat

-- varint reads a protobuf varint at s[i]; it returns the value and the next
-- index, or nothing when s ends before j or before the varint does.
local function varint(s, i, j)
  local v, m = 0, 1
  while i <= j do
    local b = byte(s, i)
    i = i + 1
    if b < 128 then
      v = v + b * m
      if v >= 2147483648 then
        v = v - 18446744073709551616 -- a negative int32, sign-extended to 64 bits
      end
      return v, i
    end
    v = v + (b - 128) * m
    m = m * 128
  end
end

-- skip returns the index after the value of a field of wire type wt at s[i].
local function skip(s, i, j, wt)
  if wt == 0 then
    local _, k = varint(s, i, j)
    return k
  elseif wt == 2 then
    local n, k = varint(s, i, j)
    return n and k + n
  elseif wt == 1 then
    return i + 8
  elseif wt == 5 then
    return i + 4
  end
end

-- statusWire is the wire type of common.Status's fields 1 to 6.
local statusWire = { 0, 2, 0, 0, 2, 2 }

-- status reads the common.Status in s[i..j]: code, error_code, reason; or
-- nothing when those bytes are not one.
local function status(s, i, j)
  local code, ec, reason = 0, 0, nil
  while i <= j do
    local key, k = varint(s, i, j)
    if not key then return end
    local f, wt = floor(key / 8), key % 8
    local w = statusWire[f]
    if w and w ~= wt then return end
    if f == 1 or f == 3 then
      local v, k2 = varint(s, k, j)
      if not v then return end
      if f == 1 then ec = v else code = v end
      i = k2
    elseif f == 2 then
      local n, k2 = varint(s, k, j)
      if not n or k2 + n - 1 > j then return end
      reason = sub(s, k2, k2 + n - 1)
      i = k2 + n
    else
      i = skip(s, k, j, wt)
      if not i or i > j + 1 then return end
    end
  end
  return code, ec, reason
end

-- field finds top-level field f (length-delimited) of the message s[i..j]:
-- its first and last index.
local function field(s, i, j, f)
  while i <= j do
    local key, k = varint(s, i, j)
    if not key then return end
    if key == f * 8 + 2 then
      local n, k2 = varint(s, k, j)
      if not n or k2 + n - 1 > j then return end
      return k2, k2 + n - 1
    end
    i = skip(s, k, j, key % 8)
    if not i then return end
  end
end

-- api is the call's RPC name, as ext_authz put it in its metadata.
local function api(h)
  local md = h:streamInfo():dynamicMetadata():get(AUTHZ)
  return md and md.api
end

-- parse reads the status from s, the first bytes of a gRPC response body.
-- It returns code, error_code, reason; or nil and the length of s it needs;
-- or nothing when the status cannot be read.
local function parse(s, h)
  local n = #s
  if n < 5 then return nil, 5 end
  if byte(s, 1) ~= 0 then return end -- compressed
  local stop = 5 + ((byte(s, 2) * 256 + byte(s, 3)) * 256 + byte(s, 4)) * 256 + byte(s, 5)
  if stop == 5 then return 0, 0 end -- an empty message: a success
  local key, k = varint(s, 6, min(stop, n))
  if not key then return nil, min(stop, n + 16) end
  local code, ec, reason, i, j
  if key == 10 then
    -- field 1, length-delimited: the status of most responses
    local l, k2 = varint(s, k, min(stop, n))
    if not l then return nil, min(stop, n + 16) end
    i, j = k2, k2 + l - 1
  elseif key == 8 or key == 18 or key == 24 or key == 32 or key == 42 or key == 50 then
    -- a field of common.Status: the response is the status itself
    i, j = 6, stop
  end
  if i then
    if j > n then return nil, j end
    code, ec, reason = status(s, i, j)
    if code == 0 and ec == 0 and not reason then return 0, 0 end
  end
  -- Not a plain success: make sure the status is where it was looked for.
  local want = STATUS_FIELD[api(h) or ""]
  if want == 0 then return end -- the method's response has no status
  if want then
    if stop > n then return nil, stop end
    i, j = field(s, 6, stop, want)
    if not i then return end
    code, ec, reason = status(s, i, j)
  end
  return code, ec, reason
end

local function set(h, code, ec, reason)
  local md = h:streamInfo():dynamicMetadata()
  md:set(NS, "code", code)
  if ec and ec ~= 0 then md:set(NS, "error_code", ec) end
  if reason and reason ~= "" then md:set(NS, "reason", reason) end
end

local unescape = { b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

-- utf8 encodes a code point below 0x10000.
local function utf8(c)
  if c < 0x80 then return char(c) end
  if c < 0x800 then return char(0xC0 + floor(c / 64), 0x80 + c % 64) end
  return char(0xE0 + floor(c / 4096), 0x80 + floor(c / 64) % 64, 0x80 + c % 64)
end

-- jsonString decodes the JSON string that starts after the quote at s[i];
-- a string cut by the end of s comes back cut.
local function jsonString(s, i)
  local out = {}
  while true do
    local j = find(s, '["\\]', i)
    if not j then
      out[#out + 1] = sub(s, i)
      break
    end
    out[#out + 1] = sub(s, i, j - 1)
    if byte(s, j) == 34 then break end
    local e = sub(s, j + 1, j + 1)
    if e == "u" and match(s, "^%x%x%x%x", j + 2) then
      out[#out + 1] = utf8(tonumber(sub(s, j + 2, j + 5), 16))
      i = j + 6
    else
      out[#out + 1] = unescape[e] or e
      i = j + 2
    end
  end
  return concat(out)
end

-- rest reads code (and message) from s, the first bytes of a REST v2 answer.
local function rest(h, s)
  local code = match(s, '^%s*{%s*"code"%s*:%s*(%-?%d+)')
  if not code then return end
  code = tonumber(code)
  local reason
  if code ~= 0 then
    local _, e = find(s, '"message"%s*:%s*"')
    if e then reason = jsonString(s, e + 1) end
  end
  set(h, code, 0, reason)
end

local function percentDecode(x) return char(tonumber(x, 16)) end

-- trailersOnly reads the reason of a gRPC answer without a message (an
-- error status in its headers).
local function trailersOnly(h)
  local hs = h:headers()
  local gs, m = hs:get("grpc-status"), hs:get("grpc-message")
  if gs and gs ~= "0" and m then
    h:streamInfo():dynamicMetadata():set(NS, "reason", (m:gsub("%%(%x%x)", percentDecode)))
  end
end

-- envoy_on_response reads the first bytes of the body as they stream by —
-- a gRPC frame starts with its compression flag (0 or 1), a JSON answer
-- with "{" — until the status is read; the headers only when there is no
-- body (reading them costs Envoy more than the rest on a success).
function envoy_on_response(h)
  local s, want = "", 64 -- a success's status is in the first bytes; more when it is not
  for chunk in h:bodyChunks() do
    local n, off = chunk:length(), 0
    while true do
      local take = min(n - off, want - #s)
      if take > 0 then
        s = s .. chunk:getBytes(off, take)
        off = off + take
      end
      local first = byte(s, 1)
      if first and first > 1 then -- not gRPC: REST's JSON, or something else
        if off < n and #s < 1024 then s = s .. chunk:getBytes(off, min(n - off, 1024 - #s)) end
        return rest(h, s)
      end
      local code, ec, reason = parse(s, h)
      if code then return set(h, code, ec, reason) end
      if not ec or ec <= #s or ec > MAX then return end
      want = ec
      if off >= n then break end
    end
  end
  if s == "" then trailersOnly(h) end
end
