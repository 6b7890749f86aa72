package llmlimit

import "slices"

// originPolicy decides which cached results a run may serve: those an
// equal run would produce.
type originPolicy struct {
	emulated bool
	anyModel bool
	protocol string
	vocab    string
	// models maps each provider Name in the run's tree to the models the
	// run asks it for; none when TagSpace can't see them, which accepts
	// any model under that Name.
	models map[string][]string
}

// accepts reports whether the run may serve a result of origin o.
func (p *originPolicy) accepts(o origin) bool {
	if o.emulated != p.emulated {
		return false
	}
	if o.protocol != "" && o.protocol != p.protocol || o.vocab != "" && o.vocab != p.vocab {
		return false
	}
	if p.anyModel {
		return true
	}
	if !o.known() {
		return false
	}
	want, ok := p.models[o.provider]
	return ok && (len(want) == 0 || slices.Contains(want, o.model))
}

// originOf is the origin the run records for a reply served by resp.
func (p *originPolicy) originOf(resp *Response) origin {
	model := resp.Model
	if m := p.models[resp.Provider]; len(m) == 1 {
		model = m[0]
	}
	return origin{
		provider: resp.Provider, model: model, served: resp.Model,
		emulated: p.emulated, protocol: p.protocol, vocab: p.vocab,
	}
}

// providerModels maps each provider Name under p to the models TagSpace's
// requests get from it: model when set ([WithModel]), else the model of a
// Gemini or OpenAI; none when a provider of that Name has a model TagSpace
// can't see. It looks through every [Wrapper], such as Limiter.
func providerModels(p Provider, model string) map[string][]string {
	out := map[string][]string{}
	unknown := map[string]bool{}
	walk(p, func(p Provider) bool {
		if len(unwrap(p)) > 0 {
			return true
		}
		m := model
		if m == "" {
			switch q := p.(type) {
			case *Gemini:
				m = q.model
			case *OpenAI:
				m = q.model
			}
		}
		name := p.Name()
		switch {
		case m == "" || unknown[name]:
			unknown[name] = true
			out[name] = nil
		case !slices.Contains(out[name], m):
			out[name] = append(out[name], m)
		}
		return false
	})
	return out
}
