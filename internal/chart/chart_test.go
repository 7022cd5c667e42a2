package chart

import (
	"bytes"
	"encoding/xml"
	"errors"
	"math"
	"strconv"
	"testing"
)

// svgDoc is the part of the output the tests read back.
type svgDoc struct {
	XMLName xml.Name `xml:"svg"`
	Width   int      `xml:"width,attr"`
	Height  int      `xml:"height,attr"`
	Texts   []string `xml:"text"`
	Rects   []struct {
		Y    float64 `xml:"y,attr"`
		Fill string  `xml:"fill,attr"`
	} `xml:"rect"`
	Groups []struct {
		Name     string `xml:"data-name,attr"`
		Stroke   string `xml:"stroke,attr"`
		Polyline *struct {
			Points string `xml:"points,attr"`
			Dashes string `xml:"stroke-dasharray,attr"`
		} `xml:"polyline"`
		Circles []struct {
			CX    float64 `xml:"cx,attr"`
			CY    float64 `xml:"cy,attr"`
			X     float64 `xml:"data-x,attr"`
			Y     float64 `xml:"data-y,attr"`
			Title string  `xml:"title"`
		} `xml:"circle"`
	} `xml:"g"`
}

// pixel is where a test expects a point: -1 for "not checked".
type pixel struct{ cx, cy float64 }

func TestWriteSVG(t *testing.T) {
	tests := []struct {
		name   string
		chart  Chart
		pixels [][]pixel // per series, per point
		texts  []string  // must be among the text elements
		top    float64   // the plot's top edge, below the legend; 0: the default, 48
	}{
		{
			name: "linear",
			chart: Chart{Title: "deliveries", XLabel: "viewers", YLabel: "per s",
				Series: []Series{{Name: "today", Points: []Point{{0, 0}, {5, 50}, {10, 100}}}}},
			// Ticks 0..10 and 0..100; plot area 70..620 × 48..310.
			pixels: [][]pixel{{{70, 310}, {345, 179}, {620, 48}}},
			texts:  []string{"deliveries", "viewers", "per s", "today", "0", "100"},
		},
		{
			name: "log x",
			chart: Chart{Title: "p99", LogX: true, Width: 800, Height: 400,
				Series: []Series{{Name: "p99", Points: []Point{{100, 10}, {1000, 20}, {10000, 40}}}}},
			// Ticks 100..10k; plot area 70..780 × 48..350; y ticks 0..40.
			pixels: [][]pixel{{{70, 274.5}, {425, 199}, {780, 48}}},
			texts:  []string{"100", "1000", "10k"},
		},
		{
			name: "two series, escaped names",
			chart: Chart{Title: `a < b & "c"`, Series: []Series{
				{Name: "gws <today>", Points: []Point{{1000, 12}, {10000, 12.5}}},
				{Name: "nbio", Points: []Point{{1000, 3}, {10000, 4}, {19000, 4.1}}, Colour: 1, Dashed: true},
			}},
			pixels: [][]pixel{{{-1, -1}, {-1, -1}}, {{-1, -1}, {-1, -1}, {-1, -1}}},
			texts:  []string{`a < b & "c"`, "gws <today>", "nbio"},
		},
		{
			name: "a long legend wraps, the plot moves down",
			chart: Chart{Series: []Series{
				{Name: "rtbroadcaster p99", Points: []Point{{1, 1}}}, {Name: "rtbroadcaster p50 (dashed)", Points: []Point{{1, 2}}, Dashed: true},
				{Name: "nbio spike p99", Points: []Point{{1, 3}}}, {Name: "nbio spike p50 (dashed)", Points: []Point{{1, 4}}, Dashed: true},
			}},
			pixels: [][]pixel{{{-1, -1}}, {{-1, -1}}, {{-1, -1}}, {{-1, -1}}},
			top:    64,
		},
		{
			name:   "one point",
			chart:  Chart{Series: []Series{{Name: "only", Points: []Point{{3, 7}}}}},
			pixels: [][]pixel{{{-1, -1}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.chart.WriteSVG(&buf); err != nil {
				t.Fatal(err)
			}
			var doc svgDoc
			if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
				t.Fatalf("not XML: %v\n%s", err, buf.String())
			}
			w, h := tt.chart.size()
			if doc.Width != w || doc.Height != h {
				t.Errorf("size %d×%d, want %d×%d", doc.Width, doc.Height, w, h)
			}
			if len(doc.Groups) != len(tt.chart.Series) {
				t.Fatalf("%d series drawn, want %d", len(doc.Groups), len(tt.chart.Series))
			}
			for i, s := range tt.chart.Series {
				g := doc.Groups[i]
				if g.Name != s.Name {
					t.Errorf("series %d is %q, want %q", i, g.Name, s.Name)
				}
				if len(g.Circles) != len(s.Points) {
					t.Fatalf("series %q: %d points drawn, want %d", s.Name, len(g.Circles), len(s.Points))
				}
				if (g.Polyline != nil) != (len(s.Points) > 1) {
					t.Fatalf("series %q: polyline %v with %d points", s.Name, g.Polyline != nil, len(s.Points))
				}
				if g.Polyline != nil && (g.Polyline.Dashes != "") != s.Dashed {
					t.Errorf("series %q: dashes %q, want dashed %v", s.Name, g.Polyline.Dashes, s.Dashed)
				}
				wantColour := palette[i%len(palette)]
				if s.Colour > 0 {
					wantColour = palette[s.Colour-1]
				}
				if g.Stroke != wantColour {
					t.Errorf("series %q: colour %s, want %s", s.Name, g.Stroke, wantColour)
				}
				for j, p := range s.Points {
					c := g.Circles[j]
					if c.X != p.X || c.Y != p.Y {
						t.Errorf("series %q point %d holds (%g, %g), want (%g, %g)", s.Name, j, c.X, c.Y, p.X, p.Y)
					}
					if c.CX < marginLeft || c.CX > float64(w-marginRight) || c.CY < marginTop || c.CY > float64(h-marginBottom) {
						t.Errorf("series %q point %d at (%g, %g): outside the plot", s.Name, j, c.CX, c.CY)
					}
					if want := tt.pixels[i][j]; want.cx >= 0 && (math.Abs(c.CX-want.cx) > 0.01 || math.Abs(c.CY-want.cy) > 0.01) {
						t.Errorf("series %q point %d at (%g, %g), want (%g, %g)", s.Name, j, c.CX, c.CY, want.cx, want.cy)
					}
					if j > 0 && (g.Circles[j-1].CX >= c.CX) != (s.Points[j-1].X >= p.X) {
						t.Errorf("series %q: x order not kept at point %d", s.Name, j)
					}
				}
			}
			wantTop := tt.top
			if wantTop == 0 {
				wantTop = marginTop
			}
			for _, r := range doc.Rects {
				if r.Fill == "none" && r.Y != wantTop {
					t.Errorf("plot top at %g, want %g", r.Y, wantTop)
				}
			}
			for _, g := range doc.Groups {
				for _, c := range g.Circles {
					if c.CY < wantTop {
						t.Errorf("point at y %g, above the plot's top %g", c.CY, wantTop)
					}
				}
			}
			have := map[string]bool{}
			for _, s := range doc.Texts {
				have[s] = true
			}
			for _, s := range tt.texts {
				if !have[s] {
					t.Errorf("no text %q among %q", s, doc.Texts)
				}
			}
		})
	}
}

func TestWriteSVGErrors(t *testing.T) {
	tests := []struct {
		name  string
		chart Chart
	}{
		{"no series", Chart{}},
		{"no points", Chart{Series: []Series{{Name: "empty"}}}},
		{"NaN", Chart{Series: []Series{{Name: "s", Points: []Point{{1, math.NaN()}}}}}},
		{"infinite", Chart{Series: []Series{{Name: "s", Points: []Point{{math.Inf(1), 1}}}}}},
		{"zero on a log axis", Chart{LogX: true, Series: []Series{{Name: "s", Points: []Point{{0, 1}, {10, 2}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := tt.chart.WriteSVG(&buf)
			if err == nil {
				t.Fatalf("no error; wrote %s", buf.String())
			}
			if tt.name == "no series" && !errors.Is(err, errNoPoints) {
				t.Errorf("error %v, want errNoPoints", err)
			}
		})
	}
}

func TestTicks(t *testing.T) {
	tests := []struct {
		name   string
		lo, hi float64
		log    bool
		want   []float64
	}{
		{"0 to 100", 0, 100, false, []float64{0, 20, 40, 60, 80, 100}},
		{"0 to 7", 0, 7, false, []float64{0, 2, 4, 6, 8}},
		{"0 to 2.7M", 0, 2.7e6, false, []float64{0, 1e6, 2e6, 3e6}},
		{"0 to 0", 0, 0, false, []float64{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1}},
		{"log 100 to 19000", 100, 19000, true, []float64{100, 200, 500, 1000, 2000, 5000, 10000, 20000}},
		{"log 150 to 900", 150, 900, true, []float64{100, 200, 500, 1000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []float64
			if tt.log {
				got = logTicks(tt.lo, tt.hi)
			} else {
				got = niceTicks(tt.lo, tt.hi)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ticks %v, want %v", got, tt.want)
			}
			for i := range got {
				if math.Abs(got[i]-tt.want[i]) > 1e-9*math.Max(1, tt.want[i]) {
					t.Fatalf("ticks %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestLabel(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 2.5: "2.5", 150: "150", 1000: "1000", 19000: "19k", 2.69e6: "2.69M", 0.123: "0.12"} {
		if got := label(v); got != want {
			t.Errorf("label(%s) = %q, want %q", strconv.FormatFloat(v, 'g', -1, 64), got, want)
		}
	}
}
