package block

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

// magic starts every encoded block; its last byte is the format version.
const magic = "EB\x01"

var (
	encOnce sync.Once
	enc     *zstd.Encoder
	dec     *zstd.Decoder
)

func codecs() {
	encOnce.Do(func() {
		// One encoder and decoder for the process: both are safe for
		// concurrent EncodeAll/DecodeAll and costly to create.
		enc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
		dec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(256<<20))
	})
}

// Encode returns b in its stored form: the columns, varint-packed and
// compressed with zstd.
func Encode(b *Block) []byte {
	codecs()
	n := b.Len()
	buf := make([]byte, 0, 64+n*20)
	buf = append(buf, magic...)
	buf = binary.AppendVarint(buf, b.Hour.Unix())
	buf = binary.AppendUvarint(buf, uint64(n))
	for _, t := range b.TS {
		buf = binary.AppendUvarint(buf, uint64(t))
	}
	buf = binary.AppendUvarint(buf, uint64(len(b.Visitors)))
	for _, v := range b.Visitors {
		buf = binary.LittleEndian.AppendUint64(buf, v)
	}
	buf = appendIDs(buf, b.Visitor)
	buf = binary.AppendUvarint(buf, uint64(len(b.Pos)))
	for _, p := range b.Pos {
		buf = binary.LittleEndian.AppendUint64(buf, p)
	}
	buf = binary.AppendUvarint(buf, uint64(NumCols))
	for c := range NumCols {
		buf = appendDict(buf, b.Dicts[c])
		buf = appendIDs(buf, b.Cols[c])
	}
	buf = binary.AppendUvarint(buf, uint64(len(b.PropKeys)))
	for i, k := range b.PropKeys {
		buf = appendString(buf, k)
		buf = appendDict(buf, b.PropDicts[i])
		buf = appendIDs(buf, b.Props[i])
	}
	return enc.EncodeAll(buf, make([]byte, 0, len(buf)/3+64))
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func appendDict(buf []byte, d []string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(d)))
	for _, s := range d {
		buf = appendString(buf, s)
	}
	return buf
}

func appendIDs(buf []byte, ids []uint16) []byte {
	for _, id := range ids {
		buf = binary.AppendUvarint(buf, uint64(id))
	}
	return buf
}

// ErrCorrupt is the cause of every Decode error.
var ErrCorrupt = errors.New("block: corrupt or unknown encoding")

// Decode reads a block Encode wrote.
func Decode(data []byte) (*Block, error) {
	codecs()
	raw, err := dec.DecodeAll(data, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	r := reader{buf: raw}
	if len(raw) < len(magic) || string(raw[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: bad header", ErrCorrupt)
	}
	r.buf = raw[len(magic):]
	b := &Block{Hour: time.Unix(r.varint(), 0).UTC()}
	n := r.count(MaxRows)
	b.TS = make([]uint32, n)
	for i := range b.TS {
		t := r.uvarint()
		if t > math.MaxUint32 {
			r.err = true
		}
		b.TS[i] = uint32(t)
	}
	nv := r.count(n + 1)
	b.Visitors = make([]uint64, nv)
	for i := range b.Visitors {
		b.Visitors[i] = r.uint64()
	}
	b.Visitor = r.ids(n, nv)
	if np := r.count(n); np > 0 {
		if np != n {
			return nil, fmt.Errorf("%w: %d queue places for %d rows", ErrCorrupt, np, n)
		}
		b.Pos = make([]uint64, n)
		for i := range b.Pos {
			b.Pos[i] = r.uint64()
		}
	}
	if r.count(64) != int(NumCols) {
		return nil, fmt.Errorf("%w: column count", ErrCorrupt)
	}
	for c := range NumCols {
		b.Dicts[c] = r.dict(n + 1)
		b.Cols[c] = r.ids(n, len(b.Dicts[c]))
	}
	np := r.count(1 << 12)
	for range np {
		b.PropKeys = append(b.PropKeys, r.string())
		d := r.dict(n + 1)
		b.PropDicts = append(b.PropDicts, d)
		b.Props = append(b.Props, r.ids(n, len(d)))
	}
	if r.err || len(r.buf) != 0 {
		return nil, fmt.Errorf("%w: truncated or trailing bytes", ErrCorrupt)
	}
	return b, nil
}

type reader struct {
	buf []byte
	err bool
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.err, r.buf = true, nil
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.buf)
	if n <= 0 {
		r.err, r.buf = true, nil
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *reader) uint64() uint64 {
	if len(r.buf) < 8 {
		r.err, r.buf = true, nil
		return 0
	}
	v := binary.LittleEndian.Uint64(r.buf)
	r.buf = r.buf[8:]
	return v
}

// count reads a length, at most limit.
func (r *reader) count(limit int) int {
	v := r.uvarint()
	if v > uint64(limit) {
		r.err, r.buf = true, nil
		return 0
	}
	return int(v)
}

func (r *reader) string() string {
	n := r.count(len(r.buf))
	s := string(r.buf[:n])
	r.buf = r.buf[n:]
	return s
}

func (r *reader) dict(limit int) []string {
	d := make([]string, r.count(limit))
	for i := range d {
		d[i] = r.string()
	}
	if len(d) == 0 || d[0] != "" {
		r.err = true
		return []string{""}
	}
	return d
}

func (r *reader) ids(n, size int) []uint16 {
	if size == 1 {
		for range n {
			if r.uvarint() != 0 {
				r.err = true
			}
		}
		return zeroCol(n)
	}
	out := make([]uint16, n)
	for i := range out {
		v := r.uvarint()
		if v >= uint64(size) {
			r.err = true
			v = 0
		}
		out[i] = uint16(v)
	}
	return out
}
