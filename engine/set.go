package engine

// u64set is an open-addressing set of uint64 (linear probing), several
// times faster than a map for the distinct counts of a scan.
type u64set struct {
	slots []uint64 // key+1; 0 is empty
	n     int
}

// add inserts k and reports whether it was new. k must be below 1<<63.
func (s *u64set) add(k uint64) bool {
	if s.n*2 >= len(s.slots) {
		s.grow()
	}
	k++
	mask := uint64(len(s.slots) - 1)
	i := mix(k) & mask
	for {
		switch s.slots[i] {
		case 0:
			s.slots[i] = k
			s.n++
			return true
		case k:
			return false
		}
		i = (i + 1) & mask
	}
}

func (s *u64set) grow() {
	old := s.slots
	size := max(1024, len(old)*2)
	s.slots = make([]uint64, size)
	s.n = 0
	mask := uint64(size - 1)
	for _, k := range old {
		if k == 0 {
			continue
		}
		i := mix(k) & mask
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = k
		s.n++
	}
}

// mix is the finalizer of MurmurHash3: keys here are small packed
// integers, which linear probing needs spread out.
func mix(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}
