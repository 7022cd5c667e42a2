// The actions of a session: what the presenter sends and every viewer runs. Each maps a funcKey
// to a function of string parameters that changes the stage.
//
// Handlers of state actions (slide, stroke, clear) must be idempotent: a viewer that reconnects
// receives the room's state again, and running a state action twice changes nothing.

/** Coordinates travel as integers from 0 to COORD_SCALE across the slide's width and height. */
export const COORD_SCALE = 10000;

/** Which actions the room keeps for late viewers, and the key it keeps each under. */
export const stateKeyOf = {
  slide: () => 'slide',
  stroke: (seq) => `stroke-${seq}`,
  clear: (slide) => `clear-${slide}`,
};

/**
 * Which live actions only matter as their latest value, and the key each is conflated under: a
 * viewer that falls behind gets the pointer's latest position (or its hiding) rather than every
 * one, and is not cut for being slow (PROTOCOL.md, Conflated streams). laserOff shares the laser's
 * key: it is the pointer's latest state too. A stroke's draft is not among them: each adds points.
 */
export const conflateKeyOf = {
  laser: () => 'laser',
  laserOff: () => 'laser',
};

export function stageActions(stage) {
  return {
    // slide(index): show slide `index`.
    slide: (index) => stage.showSlide(Number(index)),
    // stroke(seq, slide, color, width, points): a finished stroke; replaces its live draft.
    stroke: (seq, slide, color, width, points) =>
      stage.ink.putStroke({ seq: Number(seq), slide: Number(slide), color, width: Number(width), points: decodePoints(points) }),
    // strokeDraft(seq, slide, color, width, points): more points of a stroke being drawn (live only).
    strokeDraft: (seq, slide, color, width, points) =>
      stage.ink.extendDraft({ seq: Number(seq), slide: Number(slide), color, width: Number(width), points: decodePoints(points) }),
    // clear(slide, upToSeq): erase the strokes of `slide` numbered up to `upToSeq`.
    clear: (slide, upToSeq) => stage.ink.clear(Number(slide), Number(upToSeq)),
    // laser(x, y) and laserOff(): the presenter's pointer (live only).
    laser: (x, y) => stage.showLaser(Number(x), Number(y)),
    laserOff: () => stage.hideLaser(),
  };
}

/** Points as "x,y x,y ...", integers in 0..COORD_SCALE: compact, and exact across machines. */
export function encodePoints(points) {
  return points.map(([x, y]) => `${x},${y}`).join(' ');
}

export function decodePoints(text) {
  if (!text) return [];
  return text.split(' ').map((pair) => pair.split(',').map(Number));
}
