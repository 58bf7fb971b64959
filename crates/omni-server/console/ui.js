// Preact with htm templates: components without a build step.
import { h, render } from './vendor/preact.mjs';
import htm from './vendor/htm.mjs';

export const html = htm.bind(h);
export { render };
export { useState, useEffect, useRef, useMemo, useCallback } from './vendor/hooks.mjs';
