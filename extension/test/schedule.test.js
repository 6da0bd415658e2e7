import assert from 'node:assert/strict';
import {test} from 'node:test';
import * as schedule from '../src/lib/schedule.js';

test('times parse to minutes, and anything else is refused', () => {
  assert.equal(schedule.minutes('09:30'), 570);
  assert.equal(schedule.minutes('23:59'), 1439);
  for (const bad of ['24:00', '9:30', '09:60', '', 'noon']) assert.equal(schedule.minutes(bad), null, bad);
});

test('a window whose end is not after its start runs overnight; equal is 24 hours', () => {
  const day = {days: ['mon'], start: '09:00', end: '18:00'};
  const night = {days: ['fri'], start: '22:00', end: '06:00'};
  const whole = {days: ['sun'], start: '08:00', end: '08:00'};
  assert.equal(schedule.isOvernight(day), false);
  assert.equal(schedule.isOvernight(night), true);
  assert.equal(schedule.length(day), 540);
  assert.equal(schedule.length(night), 480);
  assert.equal(schedule.length(whole), 1440);
});

test('each problem of a window has its message key', () => {
  assert.equal(schedule.problem({days: [], start: '09:00', end: '18:00'}), 'errorNoDays');
  assert.equal(schedule.problem({days: ['lundi'], start: '09:00', end: '18:00'}), 'errorBadDay');
  assert.equal(schedule.problem({days: ['mon'], start: '', end: '18:00'}), 'errorBadTime');
  assert.equal(schedule.problem({days: ['mon'], start: '22:00', end: '02:00'}), null);
});

test('time zones are checked against what the browser knows', () => {
  assert.ok(schedule.knownZone('Europe/Paris'));
  assert.ok(schedule.knownZone('America/Montreal'));
  assert.ok(schedule.knownZone('system'));
  assert.ok(!schedule.knownZone('Mars/Olympus'));
  assert.ok(!schedule.knownZone(''));
});

test('the schedule sent is ordered: days in week order, windows by first day then start', () => {
  const built = schedule.build('Europe/Paris', [
    {days: ['sat', 'fri'], start: '22:00', end: '02:00'},
    {days: ['wed', 'mon'], start: '14:00', end: '18:00'},
    {days: ['mon'], start: '08:00', end: '12:00'},
  ]);
  assert.deepEqual(built, {timezone: 'Europe/Paris', windows: [
    {days: ['mon'], start: '08:00', end: '12:00'},
    {days: ['mon', 'wed'], start: '14:00', end: '18:00'},
    {days: ['fri', 'sat'], start: '22:00', end: '02:00'},
  ]});
});
