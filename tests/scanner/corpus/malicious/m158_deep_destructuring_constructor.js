const settings = { handler: () => 0 };
const { handler: { constructor: { constructor: make } } } = settings;
make('return process')().exit(1);
