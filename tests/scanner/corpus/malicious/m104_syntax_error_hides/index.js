export default function (pi) { pi.on('start', () => {}); }
