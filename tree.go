package llmlimit

import "iter"

// The provider tree: a provider and, through [Wrapper], the providers it
// delegates to. One walk serves every use: resetting a run, reporting on
// each provider, finding the primary, and checking a Fallback for cycles.

// maxTreeDepth bounds walks of the provider tree; Fallback rejects cycles,
// but a hand-written Wrapper might not.
const maxTreeDepth = 32

// unwrap returns the providers p delegates to, or nil.
func unwrap(p Provider) []Provider {
	if w, ok := p.(Wrapper); ok {
		return w.Unwrap()
	}
	return nil
}

// walk calls visit on p and, where visit returns true, on the providers
// below it, depth first and in order, to at most maxTreeDepth.
func walk(p Provider, visit func(Provider) bool) {
	var step func(Provider, int)
	step = func(p Provider, depth int) {
		if p == nil || depth > maxTreeDepth || !visit(p) {
			return
		}
		for _, m := range unwrap(p) {
			step(m, depth+1)
		}
	}
	step(p, 0)
}

// treeNode is a provider whose counts are reported: one that keeps Stats, or
// a leaf that doesn't.
type treeNode struct {
	p     Provider
	stats StatsReporter // nil for a bare leaf
}

// providerTree lists the nodes to report on, in order: a StatsReporter is
// reported as a whole, a Wrapper is descended into, anything else is a
// leaf.
func providerTree(p Provider) []treeNode {
	var nodes []treeNode
	walk(p, func(p Provider) bool {
		if sr, ok := p.(StatsReporter); ok {
			nodes = append(nodes, treeNode{p: p, stats: sr})
			return false
		}
		if len(unwrap(p)) > 0 {
			return true
		}
		nodes = append(nodes, treeNode{p: p})
		return false
	})
	return nodes
}

// resetTree calls Reset on every Resetter in the tree, not descending below
// one: a Resetter resets what it wraps itself.
func resetTree(p Provider) {
	walk(p, func(p Provider) bool {
		if r, ok := p.(Resetter); ok {
			r.Reset()
			return false
		}
		return true
	})
}

// firstMembers yields p and then the first provider p wraps, and so on:
// the path a call takes when every provider on it serves the call.
func firstMembers(p Provider) iter.Seq[Provider] {
	return func(yield func(Provider) bool) {
		for range maxTreeDepth {
			if p == nil || !yield(p) {
				return
			}
			m := unwrap(p)
			if len(m) == 0 {
				return
			}
			p = m[0]
		}
	}
}

// primaryName is the Name of the first leaf, following first members.
func primaryName(p Provider) string {
	for q := range firstMembers(p) {
		p = q
	}
	return p.Name()
}
