package prompt

import (
	"reflect"
	"testing"
)

func TestStart(t *testing.T) {
	for text, want := range map[string]string{
		"Action 12: Air quality, in cities.": "action 12 air",
		"  Two   words":                      "two words",
		"Été à Zürich, 2024":                 "été à zürich",
		"!!!":                                "",
	} {
		if got := Start(text); got != want {
			t.Errorf("Start(%q) = %q, want %q", text, got, want)
		}
	}
}

// TestParseReplyChecked reads a checked reply: an entry whose start is its
// own item's counts (whatever its case or punctuation), one with another
// item's start or none doesn't.
func TestParseReplyChecked(t *testing.T) {
	ids := []string{"a", "b", "c"}
	starts := []string{Start("Air quality in Milan"), Start("Measles vaccination drive"), Start("Cancer screening for all")}
	text := `{"results":[
		{"id":"a","start":"Measles vaccination drive","tags":["vaccination"]},
		{"id":"b","start":"AIR, quality in","tags":["air"]},
		{"id":"c","start":"cancer screening: for","tags":["cancer"]}]}`
	got, err := ParseReplyChecked(text, ids, starts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string][]string{"c": {"cancer"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v: the swapped pair must be left out", got, want)
	}
	if got, _ := ParseReplyChecked(`{"results":[{"id":"a","tags":["x"]}]}`, ids, starts, nil); len(got) != 0 {
		t.Errorf("an entry without start counted: %v", got)
	}
	// Unchecked, the same swapped reply is taken at its word.
	if got, _ := ParseReply(text, ids, nil); len(got) != 3 {
		t.Errorf("unchecked: %v", got)
	}
	if !WantsStart(BuildChecked([]Item{{"a", "x"}}, nil)) || WantsStart(Build([]Item{{"a", "x"}}, nil)) {
		t.Error("WantsStart doesn't tell the protocols apart")
	}
	if items, _, err := ParseRequest(BuildChecked([]Item{{"a", "x"}}, []string{"t"})); err != nil || len(items) != 1 {
		t.Errorf("a checked prompt doesn't parse: %v", err)
	}
	req := SchemaChecked()["properties"].(map[string]any)["results"].(map[string]any)["items"].(map[string]any)["required"]
	if !reflect.DeepEqual(req, []any{"id", "start", "tags"}) || !reflect.DeepEqual(Schema()["properties"].(map[string]any)["results"].(map[string]any)["items"].(map[string]any)["required"], []any{"id", "tags"}) {
		t.Errorf("checked schema requires %v, and the unchecked one must not change", req)
	}
}
