package llmlimit

import (
	"encoding/binary"
	"errors"
	"slices"
	"time"
)

// stored is one stored result: tags and where they came from.
type stored struct {
	tags   []string
	origin origin
}

// origin is what produced a result. The zero origin is unknown: tags added
// through the Cache interface or migrated from an old cache file.
type origin struct {
	// provider is the Name of the provider that tagged the item; "" when
	// unknown.
	provider string
	// model is the model the run asked that provider for, or, when the run
	// could not see it, the one the reply named.
	model string
	// served is the model version the reply named (Response.Model).
	served   string
	emulated bool
	// protocol and vocab are the batch-protocol version and a digest of
	// the vocabulary the tags answer; both are also part of the key.
	protocol string
	vocab    string
	// at is when the result was stored (whole seconds).
	at time.Time
}

func (o origin) known() bool { return o.provider != "" }

// label names the origin in reports: "gemini/gemini-2.5-flash",
// "emulator gemini/gemini-2.5-flash", or "unknown".
func (o origin) label() string {
	if !o.known() {
		return "unknown"
	}
	s := o.provider + "/" + o.model
	if o.emulated {
		s = "emulator " + s
	}
	return s
}

// The store keeps each origin once, in its origins bucket, under a small
// id; a result's key ends with that id and its value holds the time and
// the tags. Against writing the origin into every result, this makes a
// result about a third of the bytes, and a commit of them that much
// faster.

// valueVersion and originVersion are the first byte of every encoded
// result and origin.
const (
	valueVersion  = 1
	originVersion = 1
)

const flagEmulated = 1

// encodeOrigin appends the store's form of o, its time left out: a
// version byte, a flags byte, then the strings, each length-prefixed
// (uvarint).
func encodeOrigin(b []byte, o origin) []byte {
	var flags byte
	if o.emulated {
		flags |= flagEmulated
	}
	b = append(b, originVersion, flags)
	for _, s := range []string{o.provider, o.model, o.served, o.protocol, o.vocab} {
		b = appendString(b, s)
	}
	return b
}

var errBadEntry = errors.New("llmlimit: malformed store entry")

// decodeOrigin reads what encodeOrigin wrote, and nothing else.
func decodeOrigin(b []byte) (origin, error) {
	if len(b) < 2 || b[0] != originVersion || b[1]&^flagEmulated != 0 {
		return origin{}, errBadEntry
	}
	var o origin
	o.emulated = b[1]&flagEmulated != 0
	b = b[2:]
	var ok bool
	for _, s := range []*string{&o.provider, &o.model, &o.served, &o.protocol, &o.vocab} {
		if *s, b, ok = readString(b); !ok {
			return origin{}, errBadEntry
		}
	}
	if len(b) != 0 || o.provider == "" {
		return origin{}, errBadEntry
	}
	return o, nil
}

// originKey is what tells origins apart in the dictionary: all but the
// time.
func originKey(o origin) origin {
	o.at = time.Time{}
	return o
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// maxEntryTags bounds what decodeValue accepts; a result has a handful.
const maxEntryTags = 1024

// encodeValue appends the store's form of a result's time and tags: a
// version byte, the time (varint Unix seconds, 0 unknown), the tag count
// and the tags, length-prefixed.
func encodeValue(b []byte, at time.Time, tags []string) []byte {
	b = append(b, valueVersion)
	var sec int64
	if !at.IsZero() {
		sec = at.Unix()
	}
	b = binary.AppendVarint(b, sec)
	b = binary.AppendUvarint(b, uint64(len(tags)))
	for _, t := range tags {
		b = appendString(b, t)
	}
	return b
}

// decodeValue reads what encodeValue wrote; anything else, including a
// result without tags or with an empty tag, is errBadEntry. It copies out
// of b, which the store owns only for the length of a transaction.
func decodeValue(b []byte) (time.Time, []string, error) {
	if len(b) < 1 || b[0] != valueVersion {
		return time.Time{}, nil, errBadEntry
	}
	b = b[1:]
	sec, n := readVarint(b)
	if n <= 0 {
		return time.Time{}, nil, errBadEntry
	}
	b = b[n:]
	var at time.Time
	if sec != 0 {
		at = time.Unix(sec, 0)
	}
	count, n := readUvarint(b)
	if n <= 0 || count == 0 || count > maxEntryTags {
		return time.Time{}, nil, errBadEntry
	}
	b = b[n:]
	tags := make([]string, 0, count)
	for range count {
		var t string
		var ok bool
		if t, b, ok = readString(b); !ok || t == "" {
			return time.Time{}, nil, errBadEntry
		}
		tags = append(tags, t)
	}
	if len(b) != 0 {
		return time.Time{}, nil, errBadEntry
	}
	return at, tags, nil
}

// readUvarint is binary.Uvarint that also refuses an overlong encoding
// (a varint padded with 0x80 bytes, as encodeValue never writes), so that
// what the decoders accept is exactly what the encoders write: k <= 0 when
// b doesn't start with one.
func readUvarint(b []byte) (v uint64, k int) {
	v, k = binary.Uvarint(b)
	var buf [binary.MaxVarintLen64]byte
	if k > 0 && k != binary.PutUvarint(buf[:], v) {
		return 0, -k
	}
	return v, k
}

// readVarint is readUvarint for binary.Varint.
func readVarint(b []byte) (v int64, k int) {
	v, k = binary.Varint(b)
	var buf [binary.MaxVarintLen64]byte
	if k > 0 && k != binary.PutVarint(buf[:], v) {
		return 0, -k
	}
	return v, k
}

func readString(b []byte) (string, []byte, bool) {
	n, k := readUvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return "", nil, false
	}
	return string(b[k : k+int(n)]), b[k+int(n):], true
}

// cloneTags copies tags handed out of a cache layer.
func cloneTags(tags []string) []string { return slices.Clone(tags) }
