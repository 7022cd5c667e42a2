// What everyone in a session sees: the current slide, the ink on it and the laser pointer.
// Presenter and viewers run the same code fed by the same actions, so they show the same thing.
import { COORD_SCALE } from './actions.js';

/** The strokes of every slide. Every change is idempotent, so replayed state can be applied twice. */
export class Ink {
  #strokes = new Map(); // seq -> {seq, slide, color, width, points, done}
  #clearedUpTo = new Map(); // slide -> highest seq erased on it
  #onChange;

  /** @param {() => void} onChange called after every change */
  constructor(onChange) {
    this.#onChange = onChange;
  }

  putStroke(stroke) {
    if (this.#isCleared(stroke)) return;
    this.#strokes.set(stroke.seq, { ...stroke, done: true });
    this.#onChange();
  }

  extendDraft(chunk) {
    if (this.#isCleared(chunk)) return;
    const stroke = this.#strokes.get(chunk.seq);
    if (stroke?.done) return; // the finished stroke already arrived
    if (stroke) stroke.points.push(...chunk.points);
    else this.#strokes.set(chunk.seq, { ...chunk, done: false });
    this.#onChange();
  }

  clear(slide, upToSeq) {
    this.#clearedUpTo.set(slide, Math.max(upToSeq, this.#clearedUpTo.get(slide) ?? -1));
    for (const stroke of this.#strokes.values()) {
      if (this.#isCleared(stroke)) this.#strokes.delete(stroke.seq);
    }
    this.#onChange();
  }

  onSlide(slide) {
    return [...this.#strokes.values()].filter((stroke) => stroke.slide === slide);
  }

  #isCleared({ slide, seq }) {
    return seq <= (this.#clearedUpTo.get(slide) ?? -1);
  }
}

export class Stage {
  #framePending = false;

  /** @param {HTMLElement} root the element holding .slide, canvas and .laser */
  constructor(root, deck) {
    this.root = root;
    this.deck = deck;
    this.ink = new Ink(() => this.render());
    this.slideIndex = 0;
    this.slideEl = root.querySelector('.slide');
    this.canvas = root.querySelector('canvas');
    this.laser = root.querySelector('.laser');
    new ResizeObserver(() => this.render()).observe(root);
    this.showSlide(0);
  }

  get slideCount() {
    return this.deck.length;
  }

  showSlide(index) {
    if (!Number.isInteger(index) || index < 0 || index >= this.deck.length) return;
    this.slideIndex = index;
    const { title, lines } = this.deck[index];
    const heading = document.createElement('h2');
    heading.textContent = title;
    const list = document.createElement('ul');
    list.append(...lines.map((line) => Object.assign(document.createElement('li'), { textContent: line })));
    this.slideEl.replaceChildren(heading, list);
    this.root.dataset.slide = String(index);
    this.hideLaser();
    this.render();
  }

  showLaser(x, y) {
    this.laser.style.left = `${(x / COORD_SCALE) * 100}%`;
    this.laser.style.top = `${(y / COORD_SCALE) * 100}%`;
    this.laser.hidden = false;
  }

  hideLaser() {
    this.laser.hidden = true;
  }

  /** A pointer event's position on the slide, in the coordinates actions use. */
  toSlideCoords(event) {
    const rect = this.canvas.getBoundingClientRect();
    const clamp = (v) => Math.min(COORD_SCALE, Math.max(0, Math.round(v * COORD_SCALE)));
    return [clamp((event.clientX - rect.left) / rect.width), clamp((event.clientY - rect.top) / rect.height)];
  }

  /**
   * Redraws the ink of the current slide, at most once per frame however many changes came in.
   * The data attributes, which tests and styles read, are set at once: a hidden tab gets no frames.
   */
  render() {
    this.root.dataset.strokes = String(this.ink.onSlide(this.slideIndex).length);
    if (this.#framePending) return;
    this.#framePending = true;
    requestAnimationFrame(() => {
      this.#framePending = false;
      this.#paint();
    });
  }

  #paint() {
    const strokes = this.ink.onSlide(this.slideIndex);
    const { canvas } = this;
    const scale = window.devicePixelRatio || 1;
    canvas.width = Math.round(canvas.clientWidth * scale);
    canvas.height = Math.round(canvas.clientHeight * scale);
    const context = canvas.getContext('2d');
    context.lineCap = 'round';
    context.lineJoin = 'round';
    for (const stroke of strokes) paintStroke(context, stroke, canvas.width, canvas.height);
  }
}

/** Stroke widths are thousandths of the slide's width, so ink scales with the screen. */
function paintStroke(context, { color, width, points }, w, h) {
  if (points.length === 0) return;
  context.strokeStyle = color;
  context.lineWidth = Math.max(1, (width / 1000) * w);
  context.beginPath();
  const [first, ...rest] = points.map(([x, y]) => [(x / COORD_SCALE) * w, (y / COORD_SCALE) * h]);
  context.moveTo(...first);
  // A single point is drawn as a dot: a zero-length line with round caps.
  for (const point of rest.length ? rest : [first]) context.lineTo(...point);
  context.stroke();
}
