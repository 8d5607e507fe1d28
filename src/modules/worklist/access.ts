import type { Principal } from '../../platform/auth/tokens.ts';
import { forbidden } from '../../platform/http/problems.ts';

/** The facilities a token may see: all of them for an admin, else those named in the token. */
export type FacilityScope = { kind: 'all' } | { kind: 'some'; facilities: string[] };

export function facilityScope(principal: Principal): FacilityScope {
  return principal.role === 'admin' ? { kind: 'all' } : { kind: 'some', facilities: principal.facilities };
}

export function canSee(scope: FacilityScope, facilityId: string): boolean {
  return scope.kind === 'all' || scope.facilities.includes(facilityId);
}

/** The facilities a worklist page (or its counts) covers: every one (an admin), or these. */
export type WorklistFacilities = { kind: 'all' } | { kind: 'some'; facilities: string[] };

/**
 * The facilities a worklist page is for: the one named, which the token must see, or, when none is
 * named, every facility the token sees (an admin: every facility).
 */
export function worklistFacilities(scope: FacilityScope, requested: string | undefined): WorklistFacilities {
  if (requested !== undefined) {
    if (!canSee(scope, requested)) throw forbidden(`this token does not see facility ${requested}`);
    return { kind: 'some', facilities: [requested] };
  }
  if (scope.kind === 'all') return { kind: 'all' };
  if (scope.facilities.length === 0) throw forbidden('this token sees no facility; mint one with --facility');
  return { kind: 'some', facilities: [...new Set(scope.facilities)].sort() };
}
