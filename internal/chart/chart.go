// Package chart draws small line charts as SVG, for the benchmark curves
// in BENCHMARKS.md (docs/bench): a few series of (x, y) points, linear or
// logarithmic x axis, y from zero, ticks at round numbers, a legend. It
// writes plain SVG 1.1 with no script and no external reference, so that a
// Markdown viewer shows it as an image.
package chart

import (
	"bufio"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
)

// Point is one measurement.
type Point struct{ X, Y float64 }

// Series is one line of the chart.
type Series struct {
	Name   string
	Points []Point // drawn in this order
	Colour int     // index into the palette, plus one; 0: the series' own index
	Dashed bool    // a dashed line, e.g. for a median beside its tail
}

// Chart is a line chart.
type Chart struct {
	Title  string
	XLabel string
	YLabel string
	LogX   bool // logarithmic x axis: every X must be > 0
	Width  int  // pixels; 0: 640
	Height int  // pixels; 0: 360
	Series []Series
}

// Plot area margins, in pixels.
const (
	marginLeft   = 70
	marginRight  = 20
	marginTop    = 48
	marginBottom = 50

	legendRow       = 16  // pixels between legend rows
	legendCharWidth = 6.5 // about, at the 12 px sans-serif font
)

// palette is the series' colours, in order (Okabe–Ito, readable by the
// colour-blind).
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"}

// frame maps data to pixels.
type frame struct {
	c                *Chart
	x0, x1, y1       float64 // data ranges (y from 0)
	left, right, top float64 // plot area
	bottom           float64
	xTicks, yTicks   []float64
	legend           []Point // where each series' legend entry starts: its text's baseline
}

func (f *frame) px(x float64) float64 {
	if f.c.LogX {
		return f.left + (math.Log10(x)-math.Log10(f.x0))/(math.Log10(f.x1)-math.Log10(f.x0))*(f.right-f.left)
	}
	return f.left + (x-f.x0)/(f.x1-f.x0)*(f.right-f.left)
}

func (f *frame) py(y float64) float64 { return f.bottom - y/f.y1*(f.bottom-f.top) }

// errNoPoints is WriteSVG's error for a chart with nothing to draw.
var errNoPoints = errors.New("chart: no points")

// WriteSVG writes the chart as an SVG document. Each point is drawn as a
// circle whose data-x and data-y attributes hold its values, and whose
// title (a tooltip) says them.
func (c *Chart) WriteSVG(w io.Writer) error {
	f, err := c.layout()
	if err != nil {
		return err
	}
	b := bufio.NewWriter(w)
	width, height := c.size()
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", marginLeft, esc(c.Title))

	// Grid and ticks.
	for _, y := range f.yTicks {
		py := f.py(y)
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#ddd"/>`+"\n", num(f.left), num(py), num(f.right), num(py))
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="end">%s</text>`+"\n", num(f.left-6), num(py+4), label(y))
	}
	for _, x := range f.xTicks {
		px := f.px(x)
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#ddd"/>`+"\n", num(px), num(f.top), num(px), num(f.bottom))
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", num(px), num(f.bottom+16), label(x))
	}
	fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#333"/>`+"\n", num(f.left), num(f.top), num(f.right-f.left), num(f.bottom-f.top))
	fmt.Fprintf(b, `<text x="%s" y="%d" text-anchor="middle">%s</text>`+"\n", num((f.left+f.right)/2), height-10, esc(c.XLabel))
	fmt.Fprintf(b, `<text transform="translate(16 %s) rotate(-90)" text-anchor="middle">%s</text>`+"\n", num((f.top+f.bottom)/2), esc(c.YLabel))

	// Series, and their legend.
	for i, s := range c.Series {
		colour := palette[i%len(palette)]
		if s.Colour > 0 {
			colour = palette[(s.Colour-1)%len(palette)]
		}
		fmt.Fprintf(b, `<g class="series" data-name="%s" stroke="%s" fill="%s">`+"\n", esc(s.Name), colour, colour)
		if len(s.Points) > 1 {
			b.WriteString(`<polyline fill="none" stroke-width="2" `)
			if s.Dashed {
				b.WriteString(`stroke-dasharray="6 4" `)
			}
			b.WriteString(`points="`)
			for j, p := range s.Points {
				if j > 0 {
					b.WriteByte(' ')
				}
				fmt.Fprintf(b, "%s,%s", num(f.px(p.X)), num(f.py(p.Y)))
			}
			b.WriteString("\"/>\n")
		}
		for _, p := range s.Points {
			fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="3.5" data-x="%s" data-y="%s"><title>%s: %s, %s</title></circle>`+"\n",
				num(f.px(p.X)), num(f.py(p.Y)), num(p.X), num(p.Y), esc(s.Name), label(p.X), label(p.Y))
		}
		b.WriteString("</g>\n")
		// The legend, above the plot: a swatch drawn as the line is.
		at := f.legend[i]
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="4 2"`
		}
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="3"%s/>`+"\n", num(at.X), num(at.Y-4), num(at.X+14), num(at.Y-4), colour, dash)
		fmt.Fprintf(b, `<text x="%s" y="%s">%s</text>`+"\n", num(at.X+18), num(at.Y), esc(s.Name))
	}
	b.WriteString("</svg>\n")
	return b.Flush()
}

func (c *Chart) size() (int, int) {
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 640
	}
	if h <= 0 {
		h = 360
	}
	return w, h
}

// layout finds the data ranges, the ticks and the plot area.
func (c *Chart) layout() (*frame, error) {
	f := &frame{c: c, x0: math.Inf(1), x1: math.Inf(-1)}
	n := 0
	for _, s := range c.Series {
		for _, p := range s.Points {
			if math.IsNaN(p.X) || math.IsNaN(p.Y) || math.IsInf(p.X, 0) || math.IsInf(p.Y, 0) {
				return nil, fmt.Errorf("chart: series %q has a point that is not a number: %v", s.Name, p)
			}
			if c.LogX && p.X <= 0 {
				return nil, fmt.Errorf("chart: series %q: x %g on a logarithmic axis", s.Name, p.X)
			}
			f.x0, f.x1, f.y1 = math.Min(f.x0, p.X), math.Max(f.x1, p.X), math.Max(f.y1, p.Y)
			n++
		}
	}
	if n == 0 {
		return nil, errNoPoints
	}
	if c.LogX {
		f.xTicks = logTicks(f.x0, f.x1)
		f.x0, f.x1 = math.Min(f.x0, f.xTicks[0]), math.Max(f.x1, f.xTicks[len(f.xTicks)-1])
	} else {
		f.xTicks = niceTicks(math.Min(f.x0, 0), f.x1)
		f.x0, f.x1 = f.xTicks[0], f.xTicks[len(f.xTicks)-1]
	}
	if f.x1 == f.x0 { // one distinct x
		f.x1 = f.x0 + 1
		if c.LogX {
			f.x1 = f.x0 * 10
		}
	}
	f.yTicks = niceTicks(0, f.y1)
	f.y1 = f.yTicks[len(f.yTicks)-1]
	width, height := c.size()
	f.left, f.right = marginLeft, float64(width-marginRight)
	// The legend's entries fill rows above the plot, as many rows as they need.
	x, y := f.left, 38.0
	for _, s := range c.Series {
		w := 18 + legendCharWidth*float64(len([]rune(s.Name))) + 16
		if x > f.left && x+w > f.right {
			x, y = f.left, y+legendRow
		}
		f.legend = append(f.legend, Point{x, y})
		x += w
	}
	f.top, f.bottom = marginTop+(y-38), float64(height-marginBottom)
	return f, nil
}

// niceTicks returns about five round ticks from lo (<= 0 here) to at least hi.
func niceTicks(lo, hi float64) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	start := math.Floor(lo/step) * step
	var ticks []float64
	for i := 0; ; i++ {
		t := start + float64(i)*step
		ticks = append(ticks, t)
		if t >= hi-step*1e-9 {
			return ticks
		}
	}
}

// logTicks returns the 1, 2, 5 × 10^k from the last at or below lo to the
// first at or above hi.
func logTicks(lo, hi float64) []float64 {
	var all []float64
	for k := math.Floor(math.Log10(lo)) - 1; k <= math.Ceil(math.Log10(hi)); k++ {
		for _, m := range []float64{1, 2, 5} {
			all = append(all, m*math.Pow(10, k))
		}
	}
	first, last := 0, len(all)-1
	for i, t := range all {
		if t <= lo*(1+1e-9) {
			first = i
		}
	}
	for i := len(all) - 1; i >= 0; i-- {
		if all[i] >= hi*(1-1e-9) {
			last = i
		}
	}
	return all[first : last+1]
}

// num formats a coordinate or value compactly.
func num(v float64) string { return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) }

// label formats a tick or value for people: 1500 → 1.5k, 2000000 → 2M.
func label(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return strconv.FormatFloat(math.Round(v/1e4)/100, 'f', -1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(math.Round(v/1e2)/10, 'f', -1, 64) + "k"
	case a >= 100:
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

func esc(s string) string { return html.EscapeString(s) }
