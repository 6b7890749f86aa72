package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// Field is one summarized figure: its JSON key, its table heading and how to
// read it from a run.
type Field struct {
	Key, Head string
	// Format prints a mean or an interval in the table.
	Format string
	Get    func(*Metrics) float64
}

// Fields are the figures of a summary, in JSON and table order. Those with
// an empty Head are in the JSON only.
var Fields = []Field{
	{"operations", "", "%.0f", func(m *Metrics) float64 { return float64(m.Operations) }},
	{"quota_per_window", "", "%.0f", func(m *Metrics) float64 { return float64(m.QuotaPerWindow) }},
	{"window_seconds", "", "%.0f", func(m *Metrics) float64 { return m.WindowSeconds }},
	{"makespan_seconds", "T s", "%.0f", func(m *Metrics) float64 { return m.MakespanSeconds }},
	{"primary_bound_share", "bound", "%.3f", func(m *Metrics) float64 { return m.PrimaryBoundShare }},
	{"primary_share", "primary", "%.3f", func(m *Metrics) float64 { return m.PrimaryShare }},
	{"fallback_share", "fallback", "%.3f", func(m *Metrics) float64 { return m.FallbackShare }},
	{"rate_limited_per_op", "429/op", "%.3f", func(m *Metrics) float64 { return m.RateLimitedPerOp }},
	{"goodput_share", "goodput", "%.3f", func(m *Metrics) float64 { return m.GoodputShare }},
	{"goodput_attainable_share", "attainable", "%.3f", func(m *Metrics) float64 { return m.GoodputAttainable }},
	{"token_goodput_share", "tok gp", "%.3f", func(m *Metrics) float64 { return m.TokenGoodput }},
	{"first_window_use", "win 1", "%.2f", func(m *Metrics) float64 { return m.FirstWindowUse }},
	{"op_seconds", "op s", "%.2f", func(m *Metrics) float64 { return m.OpSeconds }},
	{"p50_seconds", "p50 s", "%.1f", func(m *Metrics) float64 { return m.P50Seconds }},
	{"p99_seconds", "p99 s", "%.1f", func(m *Metrics) float64 { return m.P99Seconds }},
	{"cost_per_100_ops_usd", "$/100 ops", "%.4f", func(m *Metrics) float64 { return m.CostPer100OpsUSD }},
	{"items_lost", "lost", "%.0f", func(m *Metrics) float64 { return float64(m.ItemsLost) }},
	{"per_day_violations", "", "%.0f", func(m *Metrics) float64 { return float64(m.PerDayViolations) }},
	{"mistagged", "", "%.0f", func(m *Metrics) float64 { return float64(m.Mistagged) }},
	{"success_cooldowns", "", "%.1f", func(m *Metrics) float64 { return float64(m.SuccessCooldowns) }},
	{"held_seconds", "", "%.1f", func(m *Metrics) float64 { return m.HeldSeconds }},
}

// Summary is one scenario and policy over seeds.
type Summary struct {
	Scenario, Policy string
	// Runs are the runs summarized, one per seed.
	Runs []Metrics
	// Stats holds each [Fields] figure by key.
	Stats map[string]Stat
}

// Summarize folds runs of one scenario and policy into a Summary.
func Summarize(runs []Metrics) Summary {
	s := Summary{Runs: runs, Stats: make(map[string]Stat, len(Fields))}
	if len(runs) > 0 {
		s.Scenario, s.Policy = runs[0].Scenario, runs[0].Policy
	}
	xs := make([]float64, len(runs))
	for _, f := range Fields {
		for i := range runs {
			xs[i] = f.Get(&runs[i])
		}
		s.Stats[f.Key] = NewStat(xs)
	}
	return s
}

// Mean returns the mean of the figure named key.
func (s Summary) Mean(key string) float64 { return s.Stats[key].Mean }

// tableNote explains the columns; it heads every table.
const tableNote = `T = makespan; bound = most of the operations the primary could serve in T: each quota window
  the run overlaps counts min(quota, what 6 calls in flight start in its part inside the run), then the per-day
  cap; primary/fallback = share of operations served by Gemini/OpenAI; 429/op = Gemini 429s per operation;
  goodput = Gemini successes / Σ windows; attainable = Gemini successes / bound; tok gp = Gemini input tokens
  admitted / Σ windows of the token quota; win 1 = share of the first window's count used; op s = T / operations;
  p50/p99 = operation latency (Generate through the Fallback); $/100 ops = emulator tokens × list prices;
  lost = items without tags. Each cell: mean ±95% interval over the row's seeds; — = not defined.
`

// WriteTable prints summaries as one table per scenario, in the order given.
func WriteTable(w io.Writer, sums []Summary) error {
	var b bytes.Buffer
	b.WriteString(tableNote)
	var scenario string
	var tw *tabwriter.Writer
	for _, s := range sums {
		if tw == nil || s.Scenario != scenario {
			if tw != nil {
				tw.Flush()
			}
			scenario = s.Scenario
			ops, q := s.Mean("operations"), s.Mean("quota_per_window")
			fmt.Fprintf(&b, "\nscenario %s: %.0f operations", scenario, ops)
			if sc, ok := scenarioOf(scenario); ok {
				if d := sc.describe(); d != "" {
					b.WriteString(", " + d)
				}
			} else if q > 0 {
				fmt.Fprintf(&b, ", Gemini quota %.0f per %.0f s", q, s.Mean("window_seconds"))
			}
			b.WriteString("\n")
			tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
			heads := []string{"policy", "seeds"}
			for _, f := range Fields {
				if f.Head != "" {
					heads = append(heads, f.Head)
				}
			}
			fmt.Fprintln(tw, strings.Join(heads, "\t")+"\t")
		}
		cells := []string{s.Policy, fmt.Sprint(len(s.Runs))}
		for _, f := range Fields {
			if f.Head == "" {
				continue
			}
			st := s.Stats[f.Key]
			if math.IsNaN(st.Mean) {
				cells = append(cells, "—")
				continue
			}
			cells = append(cells, fmt.Sprintf(f.Format+" ±"+f.Format, st.Mean, st.CI))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	if tw != nil {
		tw.Flush()
	}
	_, err := w.Write(b.Bytes())
	return err
}

// WriteJSON writes summaries as a JSON array with one object per scenario and
// policy: "scenario", "policy", the mean of every [Fields] figure under its
// key, "seeds", and "ci95", the interval half-widths by key.
func WriteJSON(w io.Writer, sums []Summary) error {
	rows := make([]json.RawMessage, 0, len(sums))
	for _, s := range sums {
		var b bytes.Buffer
		put := func(key string, v any) error {
			if b.Len() == 0 {
				b.WriteByte('{')
			} else {
				b.WriteByte(',')
			}
			if f, ok := v.(float64); ok {
				v = jsonNumber(f)
			}
			kb, _ := json.Marshal(key)
			vb, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("llmlimit: sim: %s/%s %s: %w", s.Scenario, s.Policy, key, err)
			}
			b.Write(kb)
			b.WriteByte(':')
			b.Write(vb)
			return nil
		}
		if err := put("scenario", s.Scenario); err != nil {
			return err
		}
		if err := put("policy", s.Policy); err != nil {
			return err
		}
		ci := make(map[string]any, len(Fields))
		for _, f := range Fields {
			if err := put(f.Key, s.Stats[f.Key].Mean); err != nil {
				return err
			}
			ci[f.Key] = jsonNumber(s.Stats[f.Key].CI)
		}
		if err := put("seeds", len(s.Runs)); err != nil {
			return err
		}
		if err := put("ci95", ci); err != nil {
			return err
		}
		b.WriteByte('}')
		rows = append(rows, b.Bytes())
	}
	out, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return fmt.Errorf("llmlimit: sim: json: %w", err)
	}
	_, err = w.Write(append(out, '\n'))
	return err
}

// jsonNumber is f, or nil when JSON can't hold it: a figure with no data
// (NaN) is null.
func jsonNumber(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return f
}
