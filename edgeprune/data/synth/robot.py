"""A RoboMaster-like infantry robot as a mesh: chassis, wheels, turret, armor plates.

Sizes follow a standard infantry robot (chassis about 0.56 x 0.44 m, small armor plates
0.135 x 0.125 m with a light bar on each side, tilted back 15 degrees). Team colour shows in the
armor light bars and the LED strips; a dead robot has every light off. The mesh is built once
per sticker number and placed per robot (the turret turns on its own).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from edgeprune.data.synth.geometry import (
    BOX_FACES,
    BOX_FRONT,
    BOX_SIDE_MINUS_Y,
    BOX_SIDE_PLUS_Y,
    BOX_TOP,
    Mesh,
    MeshBuilder,
    box_vertices,
    prism_y,
    rotation_z,
)

LIGHT_COLORS = {"red": (40, 40, 255), "blue": (255, 140, 30), "dead": (62, 62, 66)}
ARMOR_TILT = np.radians(15.0)
CHASSIS_L, CHASSIS_W, CHASSIS_H, CHASSIS_BOTTOM = 0.56, 0.44, 0.13, 0.08
CHASSIS_Z = CHASSIS_BOTTOM + CHASSIS_H / 2
TOP_Z = CHASSIS_BOTTOM + CHASSIS_H + 0.002
WHEEL_RADIUS, WHEEL_WIDTH = 0.076, 0.05
PLATE_W, PLATE_H, PLATE_T = 0.135, 0.125, 0.012
BAR_W, BAR_H, BAR_OFFSET = 0.022, 0.10, 0.083
STICKER_W, STICKER_H = 0.07, 0.095
ARMOR_MOUNTS = ((CHASSIS_L / 2 + 0.02, 0.0, 0.0), (-CHASSIS_L / 2 - 0.02, 0.0, np.pi),
                (0.0, CHASSIS_W / 2 + 0.02, np.pi / 2), (0.0, -CHASSIS_W / 2 - 0.02, -np.pi / 2))

# 7-segment strokes in sticker coordinates (u right, v up, both -0.5..0.5)
_SEGMENTS = {"a": ((-0.3, 0.42), (0.3, 0.42)), "b": ((0.3, 0.42), (0.3, 0.0)),
             "c": ((0.3, 0.0), (0.3, -0.42)), "d": ((0.3, -0.42), (-0.3, -0.42)),
             "e": ((-0.3, -0.42), (-0.3, 0.0)), "f": ((-0.3, 0.0), (-0.3, 0.42)),
             "g": ((-0.3, 0.0), (0.3, 0.0))}
DIGITS = {1: "bc", 2: "abged", 3: "abgcd", 4: "fgbc", 5: "afgcd"}


@dataclass(frozen=True)
class RobotLook:
    team: str  # red | blue | dead
    number: int  # 1..5 on every armor sticker
    body: tuple[float, float, float]
    metal: tuple[float, float, float]
    wheel: tuple[float, float, float]
    plate: tuple[float, float, float]
    sticker: tuple[float, float, float]

    def color(self, role: str) -> tuple[float, float, float]:
        if role == "light":
            return LIGHT_COLORS[self.team]
        if role == "ink":
            return tuple(0.25 * c for c in self.sticker)
        return getattr(self, role)

    @property
    def lit(self) -> bool:
        return self.team != "dead"


@dataclass(frozen=True)
class ArmorPlate:
    label_offset: int  # 1..4: the plate's label id is the robot's id plus this
    center: np.ndarray
    normal: np.ndarray  # outward
    points: np.ndarray  # indices of the plate's and light bars' points in the robot mesh


def place_robot(x: float, y: float, yaw: float, turret_yaw: float,
                number: int) -> tuple[Mesh, list[ArmorPlate]]:
    """The robot's mesh in world coordinates and its armor plates (world frame)."""
    template, plates = robot_template(number)
    rotation = rotation_z(yaw)
    mesh = template.placed(rotation, (x, y, 0.0), rotation_z(yaw + turret_yaw))
    origin = np.array([x, y, 0.0])
    placed = [ArmorPlate(p.label_offset, p.center @ rotation.T + origin, p.normal @ rotation.T,
                         p.points) for p in plates]
    return mesh, placed


@cache
def robot_template(number: int) -> tuple[Mesh, tuple[ArmorPlate, ...]]:
    builder = MeshBuilder()
    top_faces = builder.add_part(box_vertices((0.0, 0.0, CHASSIS_Z),
                                              (CHASSIS_L, CHASSIS_W, CHASSIS_H)),
                                 BOX_FACES, "body")
    for side in (-1, 1):  # LED strips along the chassis' top edges
        strip = box_vertices((0.0, side * (CHASSIS_W / 2 - 0.025), TOP_Z), (0.4, 0.02, 0.0))
        builder.add_decal(top_faces[BOX_TOP], strip[[4, 5, 7, 6]], "light", "light")
    for wx in (-0.2, 0.2):
        for wy in (-1, 1):
            vertices, faces = prism_y((wx, wy * (CHASSIS_W / 2 + 0.035), WHEEL_RADIUS),
                                      WHEEL_RADIUS, WHEEL_WIDTH)
            builder.add_part(vertices, faces, "wheel")
    plates = tuple(_add_armor(builder, index, mount, number)
                   for index, mount in enumerate(ARMOR_MOUNTS))
    _add_turret(builder)
    mesh = builder.build()
    with_points = []
    for plate in plates:
        faces = np.flatnonzero(mesh.label_offsets == plate.label_offset)
        points = np.unique(np.concatenate([mesh.faces[face] for face in faces]))
        with_points.append(ArmorPlate(plate.label_offset, plate.center, plate.normal, points))
    return mesh, tuple(with_points)


def _add_armor(builder: MeshBuilder, index: int, mount, number: int) -> ArmorPlate:
    """A tilted plate with a numbered sticker and a light bar on each side."""
    mx, my, facing = mount
    outward = np.array([np.cos(facing), np.sin(facing), 0.0])
    vertical = np.array([0.0, 0.0, 1.0])
    normal = np.cos(ARMOR_TILT) * outward + np.sin(ARMOR_TILT) * vertical
    up = -np.sin(ARMOR_TILT) * outward + np.cos(ARMOR_TILT) * vertical
    frame = np.stack([np.cross(up, normal), up, normal], 1)  # plate (u, v, n) -> robot
    center = np.array([mx, my, CHASSIS_Z])

    def to_robot(local: np.ndarray) -> np.ndarray:
        return local @ frame.T + center

    offset = 1 + index
    faces = builder.add_part(to_robot(box_vertices((0.0, 0.0, 0.0), (PLATE_W, PLATE_H, PLATE_T))),
                             BOX_FACES, "plate", offset)
    front = PLATE_T / 2 + 0.001
    sticker = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
    builder.add_decal(faces[BOX_FRONT], to_robot(np.array(
        [(u * STICKER_W / 2, v * STICKER_H / 2, front) for u, v in sticker])), "sticker", "paint")
    for segment in DIGITS[number]:
        stroke = np.array([(u * STICKER_W * 0.8, v * STICKER_H * 0.8, front)
                           for u, v in _SEGMENTS[segment]])
        builder.add_decal(faces[BOX_FRONT], to_robot(stroke), "ink", "stroke")
    for side in (-1, 1):
        builder.add_part(to_robot(box_vertices((side * BAR_OFFSET, 0.0, 0.004),
                                               (BAR_W, BAR_H, PLATE_T))), BOX_FACES, "light",
                         offset)
    return ArmorPlate(offset, center, normal, np.zeros(0, int))


def _add_turret(builder: MeshBuilder) -> None:
    base_h, head_h = 0.1, 0.1
    builder.add_part(box_vertices((0.0, 0.0, TOP_Z + base_h / 2), (0.2, 0.2, base_h)),
                     BOX_FACES, "metal", layer=1, moving=True)
    head_z = TOP_Z + base_h + head_h / 2
    head = builder.add_part(box_vertices((0.02, 0.0, head_z), (0.24, 0.18, head_h)), BOX_FACES,
                            "body", layer=1, moving=True)
    for side, face in ((-1, BOX_SIDE_MINUS_Y), (1, BOX_SIDE_PLUS_Y)):  # gimbal light strips
        strip = box_vertices((0.02, side * 0.0905, head_z + 0.02), (0.16, 0.0, 0.022))
        quad = strip[[0, 1, 5, 4]] if side < 0 else strip[[2, 3, 7, 6]]
        builder.add_decal(head[face], quad, "light", "light")
    builder.add_part(box_vertices((0.26, 0.0, head_z), (0.24, 0.045, 0.045)), BOX_FACES,
                     "metal", layer=1, moving=True)
