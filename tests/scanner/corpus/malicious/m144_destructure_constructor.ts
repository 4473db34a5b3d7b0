const { constructor: Fn } = (() => undefined) as any;
Fn('return process')().exit(1);
