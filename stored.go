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

// entryVersion is the first byte of every encoded entry.
const entryVersion = 1

const flagEmulated = 1

// encode appends the store's form of e to b: a version byte, a flags byte,
// the origin's strings, the time, then the tags, each string
// length-prefixed (uvarint).
func (e stored) encode(b []byte) []byte {
	var flags byte
	if e.origin.emulated {
		flags |= flagEmulated
	}
	b = append(b, entryVersion, flags)
	for _, s := range []string{e.origin.provider, e.origin.model, e.origin.served, e.origin.protocol, e.origin.vocab} {
		b = appendString(b, s)
	}
	var at int64
	if !e.origin.at.IsZero() {
		at = e.origin.at.Unix()
	}
	b = binary.AppendVarint(b, at)
	b = binary.AppendUvarint(b, uint64(len(e.tags)))
	for _, t := range e.tags {
		b = appendString(b, t)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errBadEntry = errors.New("llmlimit: malformed store entry")

// maxEntryTags bounds what decode accepts; a result has a handful.
const maxEntryTags = 1024

// decodeStored reads what encode wrote; anything else, including an entry
// without tags or with an empty tag, is errBadEntry. It copies out of b,
// which the store owns only for the length of a transaction.
func decodeStored(b []byte) (stored, error) {
	if len(b) < 2 || b[0] != entryVersion || b[1]&^flagEmulated != 0 {
		return stored{}, errBadEntry
	}
	var e stored
	e.origin.emulated = b[1]&flagEmulated != 0
	b = b[2:]
	var ok bool
	for _, s := range []*string{&e.origin.provider, &e.origin.model, &e.origin.served, &e.origin.protocol, &e.origin.vocab} {
		if *s, b, ok = readString(b); !ok {
			return stored{}, errBadEntry
		}
	}
	at, n := binary.Varint(b)
	if n <= 0 {
		return stored{}, errBadEntry
	}
	b = b[n:]
	if at != 0 {
		e.origin.at = time.Unix(at, 0)
	}
	count, n := binary.Uvarint(b)
	if n <= 0 || count == 0 || count > maxEntryTags {
		return stored{}, errBadEntry
	}
	b = b[n:]
	e.tags = make([]string, 0, count)
	for range count {
		var t string
		if t, b, ok = readString(b); !ok || t == "" {
			return stored{}, errBadEntry
		}
		e.tags = append(e.tags, t)
	}
	if len(b) != 0 {
		return stored{}, errBadEntry
	}
	return e, nil
}

func readString(b []byte) (string, []byte, bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return "", nil, false
	}
	return string(b[k : k+int(n)]), b[k+int(n):], true
}

// cloneTags copies tags handed out of a cache layer.
func cloneTags(tags []string) []string { return slices.Clone(tags) }
