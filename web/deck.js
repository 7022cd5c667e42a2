// The slides of the demo presentation. Presenter and viewers load the same deck, so a slide
// travels over the wire as its index alone.
export const deck = [
  {
    title: 'rtbroadcaster',
    lines: ['One presenter, any number of viewers', 'Everything you do here shows up on their screens, live'],
  },
  {
    title: 'How it works',
    lines: ['The presenter creates a room and gets a link', 'Viewers open the link and join the room', 'Each action is sent once and run by every viewer'],
  },
  {
    title: 'Draw on me',
    lines: ['Pick the pen and draw anywhere on the slide', 'Pick the laser and point at things', 'Ink stays with its slide'],
  },
  {
    title: 'Late? No problem',
    lines: ['The room keeps state messages: the current slide and every stroke', 'Someone who joins now sees exactly what everyone else sees'],
  },
  {
    title: 'Dropped connections',
    lines: ['Viewers reconnect on their own, with backoff and jitter', 'They rejoin, replay the state and carry on'],
  },
  {
    title: 'Thank you',
    lines: ['End the session and every viewer is told it is over'],
  },
];
