// The presenter's side: every change is applied to the local stage and sent to the room by the
// same call, so the presenter sees exactly what the viewers see.
import { conflateKeyOf, encodePoints, stageActions, stateKeyOf } from './actions.js';

const DRAFT_INTERVAL_MS = 50; // how often a stroke being drawn is sent to viewers
const MAX_STROKE_POINTS = 1500; // a longer stroke is split, so each message stays well under the frame limit
const PEN_WIDTH = 4; // thousandths of the slide's width

export class Presenter {
  #broadcaster;
  #stage;
  #actions;
  #nextSeq = 0;
  #color = '#e4004b';
  #tool = 'pen';
  #laserPoint = null;
  #laserFrame = 0;
  #away = false; // the connection is down: the SDK queues what is sent until the room is back

  constructor(broadcaster, stage) {
    this.#broadcaster = broadcaster;
    this.#stage = stage;
    this.#actions = stageActions(stage);
    broadcaster.addEventListener('reconnecting', () => (this.#away = true));
    broadcaster.addEventListener('joined', () => (this.#away = false));
  }

  /** Sends the opening state, so that every viewer, whenever they join, starts on the same slide. */
  start() {
    this.goToSlide(0);
  }

  /**
   * Shows the room's kept state, as resumeRoom returns it to a reloaded page, and numbers new
   * strokes after every stroke it holds: a reused number would replace a stroke the room keeps.
   * Nothing is sent: the viewers show this already.
   */
  restore(state) {
    for (const { funcKey, funcParams } of state) {
      this.#actions[funcKey]?.(...funcParams);
      this.#nextSeq = Math.max(this.#nextSeq, strokeSeqAfter(funcKey, funcParams));
    }
  }

  goToSlide(index) {
    if (index < 0 || index >= this.#stage.slideCount) return;
    this.#perform('slide', index);
  }

  /** Sends the current slide again: after a reconnect, viewers may have missed a change. */
  resync() {
    this.goToSlide(this.#stage.slideIndex);
  }

  step(delta) {
    this.goToSlide(this.#stage.slideIndex + delta);
  }

  /** Erases the ink of the current slide, for viewers who are here and viewers who come later. */
  clearSlide() {
    this.#perform('clear', this.#stage.slideIndex, this.#nextSeq - 1);
  }

  setTool(tool) {
    if (this.#tool === 'laser' && tool !== 'laser') this.#perform('laserOff');
    this.#tool = tool;
    this.#stage.root.dataset.tool = tool;
  }

  setColor(color) {
    this.#color = color;
  }

  /** Pen and laser input on the stage's canvas. */
  bindPointer(canvas) {
    let stroke = null;
    canvas.addEventListener('pointerdown', (event) => {
      if (this.#tool !== 'pen') return;
      canvas.setPointerCapture(event.pointerId);
      stroke = this.#beginStroke(this.#stage.toSlideCoords(event));
    });
    canvas.addEventListener('pointermove', (event) => {
      const point = this.#stage.toSlideCoords(event);
      if (this.#tool === 'laser') this.#moveLaser(point);
      else if (stroke) stroke = this.#extendStroke(stroke, point);
    });
    const end = () => {
      if (stroke) this.#endStroke(stroke);
      stroke = null;
    };
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
    canvas.addEventListener('pointerleave', () => this.#tool === 'laser' && this.#perform('laserOff'));
  }

  #beginStroke(point) {
    const stroke = { seq: this.#nextSeq++, slide: this.#stage.slideIndex, color: this.#color, points: [point], sent: 0 };
    stroke.timer = setInterval(() => this.#sendDraft(stroke), DRAFT_INTERVAL_MS);
    return stroke;
  }

  #extendStroke(stroke, point) {
    stroke.points.push(point);
    if (stroke.points.length < MAX_STROKE_POINTS) return stroke;
    this.#endStroke(stroke);
    return this.#beginStroke(point);
  }

  /** Points not sent yet go out as a draft, which viewers draw at once. */
  #sendDraft(stroke) {
    const fresh = stroke.points.slice(stroke.sent);
    if (fresh.length === 0) return;
    stroke.sent = stroke.points.length;
    this.#perform('strokeDraft', ...strokeParams(stroke, fresh));
  }

  /** The finished stroke is a state message under its own key: late viewers replay every stroke. */
  #endStroke(stroke) {
    clearInterval(stroke.timer);
    this.#perform('stroke', ...strokeParams(stroke, stroke.points));
  }

  #moveLaser(point) {
    // One laser message per frame at most, with the latest position.
    this.#laserPoint = point;
    if (this.#laserFrame) return;
    this.#laserFrame = requestAnimationFrame(() => {
      this.#laserFrame = 0;
      this.#perform('laser', ...this.#laserPoint);
    });
  }

  /** Applies an action locally, then sends it: as a state message if the room should keep it. */
  #perform(funcKey, ...params) {
    const strings = params.map(String);
    this.#actions[funcKey](...strings);
    const stateKey = stateKeyOf[funcKey]?.(...strings);
    // A live-only moment (laser, a stroke's draft) would reach viewers late, and fill the queue.
    if (!stateKey && this.#away) return;
    const conflateKey = conflateKeyOf[funcKey]?.(...strings);
    try {
      if (stateKey) this.#broadcaster.setState({ funcKey, stateKey }, ...strings);
      else if (conflateKey) this.#broadcaster.broadcast({ funcKey, stateKey: conflateKey, conflate: true }, ...strings);
      else this.#broadcaster.broadcast(funcKey, ...strings);
    } catch (error) {
      // No room any more: the session has ended and the page already says so. Or the SDK's
      // offline queue is full: the slide is sent again once the room is back (app.js).
      console.warn('rtbroadcaster demo: not sent:', error.message);
    }
  }
}

/** The first stroke number free after a kept stroke(seq, ...) or clear(slide, upToSeq). */
function strokeSeqAfter(funcKey, params) {
  if (funcKey === 'stroke') return Number(params[0]) + 1;
  if (funcKey === 'clear') return Number(params[1]) + 1;
  return 0;
}

function strokeParams(stroke, points) {
  return [stroke.seq, stroke.slide, stroke.color, PEN_WIDTH, encodePoints(points)];
}
